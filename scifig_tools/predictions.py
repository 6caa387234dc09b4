"""Prediction files: one {"id": ..., "prediction": "<the model's raw text>"} per line, ids from the dataset's `id`."""

import json


class PredictionsError(ValueError):
    """A predictions file that cannot be scored as given: the message names the line or the ids."""


def read_predictions(path):
    """{id: prediction text}; malformed lines and duplicate ids are errors that name them."""
    predictions, duplicates = {}, []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise PredictionsError(f"{path}:{number}: not JSON: {error}") from None
            if not isinstance(record, dict) or not isinstance(record.get("id"), str) \
                    or not isinstance(record.get("prediction"), str):
                raise PredictionsError(
                    f'{path}:{number}: expected {{"id": str, "prediction": str}}, got {line.strip()[:120]}')
            if record["id"] in predictions:
                duplicates.append(record["id"])
            predictions[record["id"]] = record["prediction"]
    if duplicates:
        raise PredictionsError(f"{path}: duplicate ids ({len(duplicates)}): {', '.join(duplicates[:10])}")
    return predictions


def write_predictions(predictions, path):
    with open(path, "w", encoding="utf-8") as file:
        for key, text in predictions.items():
            file.write(json.dumps({"id": key, "prediction": text}, ensure_ascii=False) + "\n")
    return path
