"""Comparable forms of rows: images become (size, mode, pixel digest), so prepared and streamed rows compare."""

import hashlib


def comparable(value):
    if hasattr(value, "tobytes") and hasattr(value, "size"):
        return ("image", value.size, value.mode, hashlib.sha1(value.tobytes()).hexdigest())
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


def rows_of(dataset):
    return [comparable(row) for row in dataset]
