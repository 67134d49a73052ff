from warmserve.cli import main

main()
