"""Importers of public naturalistic-listening datasets into braintune's format
(docs/dataset-format.md): `narratives` (OpenNeuro ds002345). Each is also a program:
`python3 -m braintune.importers.narratives --help`, which `braintune dataset import-narratives` runs."""
