"""The architecture the import contracts (pyproject [tool.importlinter], run by `make lint`) cannot
see: handlers are not a package, and "tenant first" is about signatures, not imports."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAL = ROOT / "layers/common/python/chargewatch/dal"

# A public dal function takes the organization id first, unless its first parameter is something
# already read under a tenant (the item carries its tenant-scoped key) or it is listed here.
ALREADY_TENANT_SCOPED = {"item", "job", "delivery", "application", "transaction", "session_pk"}
EXEMPT = {
    # pure key and codec helpers: they compute strings and bytes, they read nothing
    "key helpers": {
        "anomaly_sk",
        "hash_index_key",
        "result_sk",
        "sort_stamp",
        "user_index_pk",
        "user_orgs_pk",
        "start_sort_key",
        "chunk_sk",
        "pending_index_pk",
        "pending_index_sk",
        "user_pk",
        "encode_chunk",
        "decode_chunk",
        "split_chunks",
        "chunk_count_for",
        "new_analysis_item",
    },
    # the authorizer's lookups: a credential's hash is how the tenant is found in the first place
    "before a tenant is known": {
        "find_by_hash",
        "find_application_by_secret",
        "find_session_by_token",
        "find_by_token_hash",
    },
    # a person belongs to several organizations: their own records are keyed by the user
    "user-scoped": {"find_for_user", "list_for_user", "memberships_of", "get", "upsert"},
    # scheduled jobs that serve every tenant by design (the nightly fan-out, the webhook sweeper)
    "cross-tenant jobs": {"list_tenant_ids", "overdue_pending"},
    # binding the table and reading DynamoDB errors
    "table plumbing": {"register", "bind", "connection", "is_condition_failure"},
}


def _public_functions(path: Path):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            yield node.name, [argument.arg for argument in node.args.args]


def test_dal_functions_take_the_tenant_first():
    exempt = set().union(*EXEMPT.values())
    offenders = [
        f"{path.name}:{name}({', '.join(arguments)})"
        for path in sorted(DAL.glob("*.py"))
        for name, arguments in _public_functions(path)
        if name not in exempt and (not arguments or arguments[0] not in ALREADY_TENANT_SCOPED | {"organization_id"})
    ]
    assert offenders == [], "take organization_id first, or list the function in EXEMPT with the reason"


def test_handlers_import_services_never_dal_or_storage_libraries():
    forbidden = ("chargewatch.dal", "pynamodb", "boto3", "botocore")
    offenders = []
    for path in sorted((ROOT / "functions").glob("*/app.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            offenders += [f"{path.parent.name}: {name}" for name in names if name.startswith(forbidden)]
    assert offenders == []
