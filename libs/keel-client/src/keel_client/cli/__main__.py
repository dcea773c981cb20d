from keel_client.cli import main

main()
