"""The LGA (esd) service types every catalogue service is classified to.

- ``lga``           the LGA list and the esd mapping: loading the official files, storing, reading
- ``keywords``      the keyword classifier (names and descriptions to service types)
- ``vocabularies``  controlled vocabularies (the OpenActive Activity List) as keywords
- ``classify``      classifying the catalogue: source terms, mapped terms, inferred types
"""
