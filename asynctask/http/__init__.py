"""The Flask side of AsyncTask: app factory, routes, envelope and errors."""

from asynctask.http.app import create_app

__all__ = ["create_app"]
