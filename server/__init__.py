"""Unannounced field inspections of 书记项目: the Flask backend (`server:create_app`)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str):
    # `server.create_app` is imported on first use, not with the package: a tool under server/
    # (the fake WeChat server, scripts) imports only what it needs, not the whole app (~0.5 s).
    if name == "create_app":
        from server.app import create_app

        return create_app
    raise AttributeError(f"module 'server' has no attribute {name!r}")
