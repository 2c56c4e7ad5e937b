from realsyn.cli import main

main()
