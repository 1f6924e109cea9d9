"""The contract as data: openapi.yaml and schemas/*.json. This file only makes the folder importable as aigw.specs so the files ship in the wheel."""
