"""Importers of public naturalistic-listening datasets into braintune's format
(docs/dataset-format.md): `narratives` (OpenNeuro ds002345, fMRI) and `meg_masc` (MEG-MASC, MEG).
Each is also a program: `python3 -m braintune.importers.narratives --help`, which
`braintune dataset import-narratives` runs (and `import-meg-masc` for `meg_masc`); `common` holds
what they share."""
