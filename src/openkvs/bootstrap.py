"""First start (behaviour.md#access): the bootstrap user and token, printed once with ready-to-paste
lines."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from openkvs.core.errors import ApiError
from openkvs.core.ids import hash_token, new_token
from openkvs.core.validation import check_username

if TYPE_CHECKING:
    from openkvs.app import OpenKvs

TOKEN_FILE = "bootstrap-token"


async def bootstrap(app: OpenKvs) -> None:
    settings = app.settings
    where = "PostgreSQL + S3" if settings.database_url else settings.data_dir
    serving = f"openkvs serving on {settings.served_base}/v2 (storage: {where})"
    if settings.log_format == "json":  # the log stays one JSON object per line
        logging.getLogger("openkvs").info("%s", serving)
    else:
        print(serving, flush=True)
    if await app.backend.accounts.count_users() > 0:
        return
    username = check_username(settings.username)
    token = settings.token or new_token()
    try:
        user = await app.backend.accounts.create_user(username)
    except ApiError:  # another node of the deployment bootstrapped at the same moment
        return
    await app.backend.accounts.add_token(user.id, hash_token(token), "bootstrap")
    _keep_copy(settings.data_dir / TOKEN_FILE, token)
    print(
        f"\nCreated user '{username}'. Its token is shown once; a copy is in "
        f"{settings.data_dir / TOKEN_FILE} (mode 0600).\n\n"
        f"APIFY_API_BASE_URL={settings.served_base}\n"
        f"APIFY_API_PUBLIC_BASE_URL={settings.public_base}\n"
        f"APIFY_TOKEN={token}\n",
        flush=True,
    )


def _keep_copy(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)
