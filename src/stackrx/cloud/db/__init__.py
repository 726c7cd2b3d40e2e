"""Read-only access to the service databases (MySQL / MariaDB / Galera) for the `db` checks.

Everything here only reads: sessions are READ ONLY, every statement has a server-side time limit, and big
tables are estimated from bounded primary-key windows instead of being scanned.
"""
