"""Archival storage and data management: SIP -> AIP (BagIt, METS/PREMIS, signature, OCFL), catalog, fixity."""
