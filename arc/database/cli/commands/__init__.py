"""One module per `arc-db` command; each has `register(subparsers)`."""
