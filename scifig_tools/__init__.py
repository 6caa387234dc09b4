"""Tools around the scifig builder, each a `python -m scifig_tools <command>`: preview, evaluate, audit, browse,
harness, export, infos, card, stats, dummy-data, serve.

Tools import the builder's public names (`scifig`); the builder never imports them.
"""
