from cliproxy.cli.main import main

main()
