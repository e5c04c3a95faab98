"""The ASGI application for servers (``uvicorn helpline.asgi:app``), built from the environment."""

from helpline.app import create_app

app = create_app()
