"""Tools around the scifig builder: preview, dummy data, a Range-capable mirror server.

Tools import the builder (`scifig`); the builder never imports them.
"""
