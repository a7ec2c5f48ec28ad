"""A local S3 server for tests and benchmarks: moto's, in its own process, with IAM authentication switched on.

It plays AWS closely enough for the blob store: signed requests only (a wrong key is refused), a bucket, an IAM
user with an access key, and STS ``AssumeRoleWithWebIdentity`` for a role, which is what EKS's IRSA and pod
identity use (``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN``). moto is a dev dependency; nothing here is
imported by a service.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libs.devstack.stack import free_port

WEB_IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2I6Y3JtIn0.c2ln"
S3_ALL = json.dumps({"Version": "2012-10-17",
                     "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


@dataclass
class S3Account:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    role_arn: str

    def env(self) -> dict[str, str]:
        """The standard AWS variables a pod with a static key would have."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_REGION": "us-east-1"}

    def web_identity_env(self, token_file: Path, sts_endpoint: str) -> dict[str, str]:
        """The variables EKS injects for a service account bound to ``role_arn``, STS at ``sts_endpoint``."""
        token_file.write_text(WEB_IDENTITY_TOKEN)
        return {"AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file), "AWS_ROLE_ARN": self.role_arn,
                "AWS_ROLE_SESSION_NAME": "switchboard-test", "AWS_ENDPOINT_URL_STS": sts_endpoint,
                "AWS_REGION": "us-east-1"}

    def assume_role(self, role_arn: str, session: str) -> dict[str, str]:
        """Temporary credentials of the role from the S3 server's own STS (signed with the user's key)."""
        import boto3

        sts = boto3.client("sts", endpoint_url=self.endpoint, region_name="us-east-1",
                           aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
        return {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}

    def admin(self) -> Any:
        """A boto3 S3 client with the user's key, to look at the bucket from outside the store."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)


class MotoS3:
    """``python -m moto.server`` on a free loopback port; ``start()`` returns the account to use."""

    def __init__(self, log: Path, bucket: str = "switchboard-blobs") -> None:
        self.log = log
        self.bucket = bucket
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> S3Account:
        import boto3

        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "MOTO_CALL_RESET_API": "false"})
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto server did not start (see {self.log})") from None
                time.sleep(0.1)
        # Auth is off until reset-auth: make the user, its key, the role and the bucket first.
        boot = {"endpoint_url": self.endpoint, "region_name": "us-east-1", "aws_access_key_id": "boot",
                "aws_secret_access_key": "boot"}
        iam = boto3.client("iam", **boot)
        iam.create_user(UserName="switchboard")
        iam.put_user_policy(UserName="switchboard", PolicyName="s3-and-roles", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "sts:AssumeRole"],
                                                    "Resource": "*"}]}))
        key = iam.create_access_key(UserName="switchboard")["AccessKey"]
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.example"},
            "Action": "sts:AssumeRoleWithWebIdentity"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/switchboard"},
             "Action": "sts:AssumeRole"}]})
        role = iam.create_role(RoleName="switchboard-pods", AssumeRolePolicyDocument=trust)["Role"]
        iam.put_role_policy(RoleName="switchboard-pods", PolicyName="s3", PolicyDocument=S3_ALL)
        boto3.client("s3", **boot).create_bucket(Bucket=self.bucket)
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req, timeout=5).close()  # from now on every request must be signed by a known key
        return S3Account(self.endpoint, self.bucket, key["AccessKeyId"], key["SecretAccessKey"], role["Arn"])

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class StsPeer:
    """STS's ``AssumeRoleWithWebIdentity`` over HTTPS (a self-signed certificate) on loopback, in STS's wire format.

    It records each call (role, session name, token) and answers with temporary credentials of that role that
    ``issue`` gets from the S3 server's STS, so an S3 request signed with them (and their session token) proves
    the store used what STS returned. (moto's STS cannot be called unsigned on loopback: its server routes an
    unsigned POST to S3, which is why this peer stands in front of it.)
    """

    def __init__(self, folder: Path, issue: Callable[[str, str], dict[str, str]]) -> None:
        self.folder, self.issue = folder, issue
        self.calls: list[dict[str, str]] = []
        self.port = free_port()
        self.endpoint = f"https://127.0.0.1:{self.port}"
        self._runner: Any = None

    def _certificate(self) -> tuple[Path, Path]:
        import datetime as dt

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
        cert_path, key_path = self.folder / "sts.crt", self.folder / "sts.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path

    async def start(self) -> str:
        import ssl

        from aiohttp import web

        cert, key = self._certificate()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        async def sts(request: web.Request) -> web.Response:
            form = await request.post()
            params = {**request.query, **{k: str(v) for k, v in form.items()}}
            self.calls.append(dict(params))
            if params.get("Action") != "AssumeRoleWithWebIdentity":
                return web.Response(status=400, text="unsupported action")
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            c = self.issue(str(params.get("RoleArn")), str(params.get("RoleSessionName")))
            body = (f'<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                    f"<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{c['AccessKeyId']}</AccessKeyId>"
                    f"<SecretAccessKey>{c['SecretAccessKey']}</SecretAccessKey>"
                    f"<SessionToken>{c['SessionToken']}</SessionToken>"
                    f"<Expiration>{expires}</Expiration></Credentials>"
                    f"<AssumedRoleUser><Arn>{params.get('RoleArn')}/{params.get('RoleSessionName')}</Arn>"
                    f"<AssumedRoleId>AROA:{params.get('RoleSessionName')}</AssumedRoleId></AssumedRoleUser>"
                    f"</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>")
            return web.Response(text=body, content_type="text/xml")

        app = web.Application()
        app.router.add_route("*", "/", sts)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=context).start()
        return self.endpoint

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
