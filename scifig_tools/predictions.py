"""Prediction files: one {"id": ..., "prediction": "<the model's raw text>"} per line, ids from the dataset's `id`."""

import json
from pathlib import Path


class PredictionsError(ValueError):
    """A predictions file that cannot be scored as given: the message names the line or the ids."""


def read_predictions(path, samples=1):
    """{id: prediction text} from JSON lines, or from VLMEvalKit's prediction file (its .xlsx, .tsv or .csv with
    `id` and `prediction` columns, as it writes for a TSV from `scifig_tools harness vlmevalkit`); malformed
    lines, duplicate ids and a file with no prediction at all are errors that name them. With `samples` > 1 each
    prediction is a list of that many texts (k samples per figure, as MMSci's captioning runs write them)."""
    if str(path).endswith((".xlsx", ".tsv", ".csv")):
        return _read_table(path)
    predictions, duplicates = {}, []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:  # its own line and column count within this one line
                end = len(line.rstrip("\r\n"))
                at = "the end of the line" if error.pos >= end else f"character {error.pos + 1}"
                raise PredictionsError(f"{path}:{number}: not JSON ({error.msg} at {at})") from None
            if not isinstance(record, dict) or not isinstance(record.get("id"), str) \
                    or not _shaped(record.get("prediction"), samples):
                shape = "str" if samples == 1 else f"[{samples} str]"
                raise PredictionsError(
                    f'{path}:{number}: expected {{"id": str, "prediction": {shape}}}, got {line.strip()[:120]}')
            if record["id"] in predictions:
                duplicates.append(record["id"])
            predictions[record["id"]] = record["prediction"]
    if duplicates:
        raise PredictionsError(f"{path}: duplicate ids ({len(duplicates)}): {', '.join(duplicates[:10])}")
    if not predictions:
        raise PredictionsError(f"{path}: holds no predictions (one {{\"id\": ..., \"prediction\": ...}} per line)")
    return predictions


def _shaped(prediction, samples):
    if samples == 1:
        return isinstance(prediction, str)
    return isinstance(prediction, list) and len(prediction) == samples and all(isinstance(p, str) for p in prediction)


def write_predictions(predictions, path):
    with open(path, "w", encoding="utf-8") as file:
        for key, text in predictions.items():
            file.write(json.dumps({"id": key, "prediction": text}, ensure_ascii=False) + "\n")
    return path


def _read_table(path):
    import pandas as pd

    reader = {".xlsx": pd.read_excel, ".tsv": lambda p: pd.read_csv(p, sep="\t"), ".csv": pd.read_csv}
    table = reader[Path(path).suffix](path)
    missing = [column for column in ("id", "prediction") if column not in table.columns]
    if missing:
        columns = ", ".join(map(str, table.columns))
        raise PredictionsError(f"{path}: no {' or '.join(missing)} column (it has {columns}); VLMEvalKit keeps the "
                               "TSV's columns, so predict on a TSV that has `id`")
    if table.empty:
        raise PredictionsError(f"{path}: holds no predictions")
    duplicates = sorted(set(table["id"][table["id"].duplicated()]))
    if duplicates:
        raise PredictionsError(f"{path}: duplicate ids ({len(duplicates)}): {', '.join(duplicates[:10])}")
    return {str(key): "" if pd.isna(text) else str(text) for key, text in zip(table["id"], table["prediction"])}
