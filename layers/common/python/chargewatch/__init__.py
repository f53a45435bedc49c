"""Chargewatch shared runtime: settings, tenancy, errors, schemas, data access and services.

Data flows one way: handler (functions/) -> service (chargewatch.services) -> data access
(chargewatch.dal) -> DynamoDB/S3/SQS, with the csar engine called by services as a pure function.
"""
