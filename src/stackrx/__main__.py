from stackrx.cli import main

main()
