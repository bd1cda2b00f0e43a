"""Work sources: sessions with one server (:mod:`.connection`) and the failover strategy (:mod:`.failover`)."""

from miner.sources.connection import (
    ConnectError,
    ConnectionPolicy,
    Credentials,
    PullConnection,
    ServerConnection,
    ServerEndpoint,
    SessionLostError,
    SourceError,
    WebSocketConnection,
    open_connection,
)
from miner.sources.failover import FailoverPolicy, FailoverStrategy, SourceListener

__all__ = [
    "ConnectError",
    "ConnectionPolicy",
    "Credentials",
    "FailoverPolicy",
    "FailoverStrategy",
    "PullConnection",
    "ServerConnection",
    "ServerEndpoint",
    "SessionLostError",
    "SourceError",
    "SourceListener",
    "WebSocketConnection",
    "open_connection",
]
