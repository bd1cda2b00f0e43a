"""One module per ``neuraxon-miner`` subcommand; each exposes ``register(subparsers)``."""
