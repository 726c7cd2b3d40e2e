"""Sub-commands beyond `scan` and `checks`, one module each; each imports only click at module level."""
