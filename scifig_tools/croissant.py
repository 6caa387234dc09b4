"""croissant.json for an export: its structure (Croissant 1.1) and provenance (the responsible-AI vocabulary), for
catalogues, the Hub and conference tracks to read.

`export` writes it beside the card every time, from what the export holds: one FileSet per config (its Parquet
files), one RecordSet per config whose fields are the features stored in those files (images, class labels with
their names, lists as the features nest them), a `split` field read from each file's name, and the facts the card
states (scifig_tools.facts). Features are mapped as the Hub's own Croissant writer maps them
(huggingface/dataset-viewer, libcommon/croissant_utils.py); class labels reference a RecordSet of their names.
Checked by the reference implementation, `mlcroissant` (tests/test_croissant.py).
"""

import json
import posixpath
import re
from pathlib import Path

import datasets
import pyarrow.parquet as pq

import scifig
from scifig_tools import facts
from scifig_tools.parquet_layout import SHARD_SUFFIX, exported_files

CROISSANT = "http://mlcommons.org/croissant/1.1"
RAI = "http://mlcommons.org/croissant/RAI/1.0"

# The Croissant 1.1 @context, as mlcroissant writes it (mlcroissant/_src/core/rdf.py, make_context).
CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "arrayShape": "cr:arrayShape", "citeAs": "cr:citeAs",
    "column": "cr:column", "conformsTo": "dct:conformsTo", "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"}, "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/", "description": {"@container": "@language"},
    "equivalentProperty": "cr:equivalentProperty", "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes", "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5",
    "name": {"@container": "@language"}, "parentField": "cr:parentField", "path": "cr:path",
    "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex", "repeated": "cr:repeated",
    "replace": "cr:replace", "samplingRate": "cr:samplingRate", "sc": "https://schema.org/",
    "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField", "transform": "cr:transform",
}

# datasets Value dtypes scifig uses -> Croissant data types (as the Hub maps them)
VALUE_TYPES = {"string": "sc:Text", "int32": "cr:Int32", "int64": "cr:Int64", "float64": "cr:Float64",
               "date32": "sc:Date"}

_LISTS = tuple({datasets.Sequence, getattr(datasets, "List", datasets.Sequence)})  # List: datasets >= 4


def _stored_features(files, filesystem=None):
    """The features every Parquet file of a config says it holds (they must agree)."""
    stored = [json.loads(pq.read_schema(path, filesystem=filesystem).metadata[b"huggingface"])["info"]["features"]
              for path in files]
    if any(features != stored[0] for features in stored):
        raise ValueError(f"the Parquet files of {posixpath.dirname(str(files[0]))} disagree on their features")
    return datasets.Features.from_dict(stored[0])


def _source(file_set, column, path=()):
    source = {"fileSet": {"@id": file_set}, "extract": {"column": column}}
    if path:
        source["transform"] = [{"jsonPath": step} for step in path] if len(path) > 1 else {"jsonPath": path[0]}
    return source


def field(file_set, name, column, feature, labels, path=()):
    """A Croissant field for one feature, or (for a struct) its sub-fields. `labels` ({names: RecordSet id}) gains
    the names of every class label met, the first field with them naming their RecordSet."""
    if isinstance(feature, (*_LISTS, list)):  # a list; a plain list holds structs
        inner = field(file_set, name, column, feature[0] if isinstance(feature, list) else feature.feature, labels,
                      path)
        # mlcroissant 1.1.1 casts each item of a list only for `repeated` (Croissant 1.0's word for isArray): an
        # isArray list of images would reach the image decoder whole; and it joins on `references`, which a list
        # of labels cannot be joined on (its names are in the description and in their RecordSet all the same)
        inner.pop("references", None)
        return {**inner, "isArray": True, "arrayShape": "-1", "repeated": True}
    if isinstance(feature, dict):
        return {"@type": "cr:Field", "@id": name, "name": name.rsplit("/", 1)[1],
                "subField": [field(file_set, f"{name}/{key}", column, sub, labels, (*path, key))
                             for key, sub in feature.items()]}
    described = {"@type": "cr:Field", "@id": name, "name": name.rsplit("/", 1)[1]}
    if isinstance(feature, datasets.Image):
        return {**described, "dataType": "sc:ImageObject", "source": _source(file_set, column, (*path, "bytes"))}
    if isinstance(feature, datasets.ClassLabel):
        names = labels.setdefault(tuple(feature.names), f"{name.rsplit('/', 1)[1]}-names")
        return {**described, "dataType": "sc:Integer", "source": _source(file_set, column, path),
                "description": f"Index into {', '.join(feature.names)} (the names are the RecordSet {names}); "
                               "-1 where the value is withheld.",
                "references": {"field": {"@id": f"{names}/index"}}}
    return {**described, "dataType": VALUE_TYPES[feature.dtype], "source": _source(file_set, column, path)}


def _names_record_set(names, record_set):
    return {"@type": "cr:RecordSet", "@id": record_set, "name": record_set, "dataType": "sc:Enumeration",
            "key": {"@id": f"{record_set}/index"},
            "field": [{"@type": "cr:Field", "@id": f"{record_set}/index", "name": "index", "dataType": "sc:Integer"},
                      {"@type": "cr:Field", "@id": f"{record_set}/name", "name": "name", "dataType": "sc:Text"}],
            "data": [{f"{record_set}/index": index, f"{record_set}/name": value} for index, value in enumerate(names)]}


def _creators():
    """The MMSci authors, from the citation the card carries ("Last, First and ...")."""
    authors = re.search(r"author\s*=\s*\{(.+?)\},\n\s*booktitle", scifig.CITATION, re.DOTALL)[1]
    names = [" ".join(part.split()) for part in authors.split(" and ")]
    return [{"@type": "sc:Person", "name": " ".join(reversed([p.strip() for p in name.split(",", 1)]))}
            for name in names]


def metadata(out_dir, repo_id=None, filesystem=None):
    """The Croissant document for an export folder, from its Parquet files (on `filesystem`, a pyarrow filesystem,
    where given)."""
    distribution, record_sets, labels = [], [], {}
    for config, files_of in exported_files(out_dir, filesystem).items():
        splits, files = list(files_of), [path for paths in files_of.values() for path in paths]
        file_set = f"parquet-files-{config}"
        distribution.append({"@type": "cr:FileSet", "@id": file_set, "name": file_set,
                             "description": f"The Parquet files of {config}, one or more per split.",
                             "encodingFormat": "application/x-parquet", "includes": f"{config}/*.parquet"})
        features = _stored_features(files, filesystem)
        split = {"@type": "cr:Field", "@id": f"{config}/split", "name": "split", "dataType": "sc:Text",
                 "description": f"The split a row is in: {', '.join(splits)}.",
                 "source": {"fileSet": {"@id": file_set}, "extract": {"fileProperty": "fullpath"},
                            "transform": {"regex": f"^{config}/({'|'.join(splits)}){SHARD_SUFFIX}"}}}
        description = next(c.description for c in scifig.CONFIGS if c.name == config)
        record_sets.append({"@type": "cr:RecordSet", "@id": config, "name": config, "description": description,
                            "key": {"@id": f"{config}/id"},
                            "field": [split] + [field(file_set, f"{config}/{column}", column, feature, labels)
                                                for column, feature in features.items()]})
    homepage = f"https://huggingface.co/datasets/{repo_id}" if repo_id else scifig.HOMEPAGE
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": [CROISSANT, RAI],
        "name": repo_id.split("/")[-1] if repo_id else "scifig",
        "description": scifig.DESCRIPTION.replace("\n", " ").strip(),
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "citeAs": scifig.CITATION.strip(),
        "url": homepage,
        "sameAs": [scifig.HOMEPAGE, "https://arxiv.org/abs/2407.04903"],
        "version": str(scifig.VERSION),
        "creator": _creators(),
        "inLanguage": "en",
        "keywords": ["science", "scientific figures", "figure captioning", "multiple choice", "multimodal",
                     "interleaved pre-training", "Nature Communications"],
        "isLiveDataset": False,
        "rai:dataCollection": facts.COLLECTION,
        "rai:dataCollectionType": facts.COLLECTION_TYPE,
        "rai:dataCollectionRawData": "Open-access Nature Communications articles (https://www.nature.com/ncomms/): "
                                     "text, figures and captions.",
        "rai:dataAnnotationProtocol": facts.ANNOTATION,
        "rai:dataPreprocessingProtocol": facts.PROCESSING,
        "rai:dataLimitations": facts.limitations(),
        "rai:dataBiases": facts.BIASES,
        "rai:personalSensitiveInformation": facts.SENSITIVE,
        "rai:dataUseCases": facts.USES,
        "distribution": distribution,
        "recordSet": [_names_record_set(names, record_set) for names, record_set in labels.items()] + record_sets,
    }


def write(out_dir, repo_id=None, filesystem=None, into=None):
    """croissant.json for the export at `out_dir` (on `filesystem` where given), written into the local folder
    `into` (`out_dir` unless given)."""
    path = Path(into or out_dir) / "croissant.json"
    path.write_text(json.dumps(metadata(out_dir, repo_id, filesystem), indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path
