"""Unannounced field inspections of 书记项目: the Flask backend (`server:create_app`)."""

from server.app import create_app

__all__ = ["create_app"]
