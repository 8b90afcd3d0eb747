#!/usr/bin/env python3
"""boto3 (and anonymous raw HTTP) against Meridian's access control, as AWS
answers: canned ACLs and grants on buckets and objects, object ownership,
bucket policies with conditions, public access blocks, policy status, and
Object Lock (configuration, retention, legal holds, deletes refused).
Success and error paths alike.

Usage: boto3_access.py --endpoint URL --access-key K --secret-key S
                       --alice-key K --alice-secret S --bob-key K --bob-secret S
Exits 0 when every check passes; else prints the failing check, exits 1.
"""

import argparse
import datetime
import json
import sys
import urllib.error
import urllib.request
import uuid

try:
    import boto3  # noqa: F401 - the environment check
    from s3check import check, client, expect_error, run_steps
except ImportError as exc:  # pragma: no cover - environment check
    print(f"FAIL: boto3 is not installed ({exc}); pip install boto3", file=sys.stderr)
    sys.exit(2)

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


class Ctx:
    def __init__(self, a):
        self.endpoint = a.endpoint
        self.root = client(a.endpoint, a.access_key, a.secret_key, max_attempts=1)
        self.root_keys = (a.access_key, a.secret_key)
        self.alice_keys = (a.alice_key, a.alice_secret)
        self.alice = client(a.endpoint, a.alice_key, a.alice_secret, max_attempts=1)
        self.bob = client(a.endpoint, a.bob_key, a.bob_secret, max_attempts=1)

    def bucket(self, tag, **kwargs):
        b = f"{tag}-{uuid.uuid4().hex[:10]}"
        self.root.create_bucket(Bucket=b, **kwargs)
        return b

    def anon(self, method, path, body=None, headers=None):
        """Status of an unsigned request."""
        req = urllib.request.Request(self.endpoint + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as e:
            return e.code


def grants(acl):
    """{(grantee, permission)} of a Get*Acl answer."""
    out = set()
    for g in acl["Grants"]:
        who = g["Grantee"].get("ID") or g["Grantee"].get("URI")
        out.add((who, g["Permission"]))
    return out


def canned_acls(c):
    b = c.bucket("canned", ACL="public-read")
    check((ALL_USERS, "READ") in grants(c.root.get_bucket_acl(Bucket=b)), "public-read bucket ACL")
    check(c.anon("GET", f"/{b}") == 200, "anonymous list of a public-read bucket")
    c.root.put_object(Bucket=b, Key="private", Body=b"p")
    # A bucket's READ lists; reading an object takes the object's ACL.
    check(c.anon("GET", f"/{b}/private") == 403, "anonymous read of a private object")
    c.root.put_object(Bucket=b, Key="open", Body=b"o", ACL="public-read")
    check((ALL_USERS, "READ") in grants(c.root.get_object_acl(Bucket=b, Key="open")),
          "public-read object ACL")
    check(c.anon("GET", f"/{b}/open") == 200, "anonymous read of a public-read object")
    c.root.put_object_acl(Bucket=b, Key="open", ACL="private")
    check(c.anon("GET", f"/{b}/open") == 403, "private again")
    c.root.put_bucket_acl(Bucket=b, ACL="private")
    check(c.anon("GET", f"/{b}") == 403, "anonymous list of a private bucket")
    # public-read-write: anyone writes, and owns what they write.
    w = c.bucket("canned-rw", ACL="public-read-write")
    check(c.anon("PUT", f"/{w}/drop", body=b"x") == 200, "anonymous write")
    owner = c.root.get_object_acl(Bucket=w, Key="drop")["Owner"]["ID"]
    check(owner == "anonymous", f"anonymous upload owned by {owner}")
    # authenticated-read: any signed user lists, nobody anonymous.
    r = c.bucket("canned-auth", ACL="authenticated-read")
    check((AUTH_USERS, "READ") in grants(c.root.get_bucket_acl(Bucket=r)), "authenticated-read")
    c.bob.list_objects_v2(Bucket=r)
    check(c.anon("GET", f"/{r}") == 403, "anonymous list of an authenticated-read bucket")
    expect_error(lambda: c.root.create_bucket(Bucket=f"x-{uuid.uuid4().hex[:8]}", ACL="public-ready"),
                 "InvalidArgument", 400)
    # A user writing into another's bucket can hand it full control.
    c.root.put_bucket_acl(Bucket=w, GrantWrite="id=alice", GrantRead=f'uri="{ALL_USERS}"')
    c.alice.put_object(Bucket=w, Key="hers", Body=b"h", ACL="bucket-owner-full-control")
    acl = c.alice.get_object_acl(Bucket=w, Key="hers")
    check(acl["Owner"]["ID"] == "alice" and ("root", "FULL_CONTROL") in grants(acl),
          f"bucket-owner-full-control: {grants(acl)}")


def acl_grants(c):
    b = c.bucket("grants")
    c.root.put_object(Bucket=b, Key="k", Body=b"1")
    expect_error(lambda: c.alice.list_objects_v2(Bucket=b), "AccessDenied", 403)
    c.root.put_bucket_acl(Bucket=b, AccessControlPolicy={
        "Owner": {"ID": "root"},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "alice"}, "Permission": "READ"},
                   {"Grantee": {"Type": "CanonicalUser", "ID": "bob"}, "Permission": "READ_ACP"}]})
    got = grants(c.root.get_bucket_acl(Bucket=b))
    check(("alice", "READ") in got and ("bob", "READ_ACP") in got and ("root", "FULL_CONTROL") in got,
          f"bucket grants {got}")
    c.alice.list_objects_v2(Bucket=b)
    expect_error(lambda: c.alice.get_object(Bucket=b, Key="k"), "AccessDenied", 403)
    c.bob.get_bucket_acl(Bucket=b)
    expect_error(lambda: c.alice.get_bucket_acl(Bucket=b), "AccessDenied", 403)
    expect_error(lambda: c.bob.put_bucket_acl(Bucket=b, ACL="private"), "AccessDenied", 403)
    # Object grants by header; the object's READ reads it.
    c.root.put_object_acl(Bucket=b, Key="k", GrantRead="id=alice")
    check(c.alice.get_object(Bucket=b, Key="k")["Body"].read() == b"1", "object READ grant")
    expect_error(lambda: c.alice.get_object_acl(Bucket=b, Key="k"), "AccessDenied", 403)
    expect_error(lambda: c.root.put_bucket_acl(Bucket=b, GrantRead="id=nobody-such"),
                 "InvalidArgument", 400)
    expect_error(lambda: c.root.put_bucket_acl(Bucket=b, ACL="public-read", GrantRead="id=alice"),
                 "InvalidRequest", 400)
    expect_error(lambda: c.root.put_bucket_acl(Bucket=b, GrantRead='emailAddress="a@b.c"'),
                 "UnresolvableGrantByEmailAddress", 400)
    expect_error(lambda: c.root.put_bucket_acl(Bucket=b, AccessControlPolicy={
        "Owner": {"ID": "root"},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "alice"}, "Permission": "EXECUTE"}]}),
        "MalformedACLError", 400)
    # Revoking all: only the owner's full control is left.
    c.root.put_bucket_acl(Bucket=b, AccessControlPolicy={"Owner": {"ID": "root"}, "Grants": []})
    check(grants(c.root.get_bucket_acl(Bucket=b)) == {("root", "FULL_CONTROL")}, "revoked")


def ownership(c):
    b = c.bucket("own", ACL="public-read")
    expect_error(lambda: c.root.get_bucket_ownership_controls(Bucket=b),
                 "OwnershipControlsNotFoundError", 404)
    enforced = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    expect_error(lambda: c.root.put_bucket_ownership_controls(Bucket=b, OwnershipControls=enforced),
                 "InvalidBucketAclWithObjectOwnership", 400)
    c.root.put_bucket_acl(Bucket=b, ACL="private")
    c.root.put_bucket_ownership_controls(Bucket=b, OwnershipControls=enforced)
    got = c.root.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"][0]
    check(got["ObjectOwnership"] == "BucketOwnerEnforced", f"{got}")
    for acl in ("public-read", "private"):
        expect_error(lambda: c.root.put_object(Bucket=b, Key="k", Body=b"1", ACL=acl),
                     "AccessControlListNotSupported", 400)
    expect_error(lambda: c.root.put_bucket_acl(Bucket=b, ACL="private"),
                 "AccessControlListNotSupported", 400)
    # bucket-owner-full-control is still taken, and a writer's object is
    # the bucket owner's.
    c.root.put_object(Bucket=b, Key="k", Body=b"1", ACL="bucket-owner-full-control")
    c.root.put_bucket_policy(Bucket=b, Policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{b}/*"}]}))
    c.alice.put_object(Bucket=b, Key="hers", Body=b"h")
    owner = c.root.get_object_acl(Bucket=b, Key="hers")["Owner"]["ID"]
    check(owner == "root", f"under BucketOwnerEnforced the bucket owner owns it, not {owner}")
    expect_error(lambda: c.root.put_object_acl(Bucket=b, Key="hers", ACL="private"),
                 "AccessControlListNotSupported", 400)
    c.root.delete_bucket_ownership_controls(Bucket=b)
    expect_error(lambda: c.root.get_bucket_ownership_controls(Bucket=b),
                 "OwnershipControlsNotFoundError", 404)
    expect_error(lambda: c.root.create_bucket(Bucket=f"o-{uuid.uuid4().hex[:8]}", ACL="public-read",
                                              ObjectOwnership="BucketOwnerEnforced"),
                 "InvalidBucketAclWithObjectOwnership", 400)
    new = c.bucket("own-new", ObjectOwnership="BucketOwnerPreferred")
    got = c.root.get_bucket_ownership_controls(Bucket=new)["OwnershipControls"]["Rules"][0]
    check(got["ObjectOwnership"] == "BucketOwnerPreferred", f"{got}")


def policy(c, b, statements):
    c.root.put_bucket_policy(Bucket=b, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))


def policy_conditions(c):
    b = c.bucket("cond")
    for k in ("home/alice/1", "home/bob/1", "tagged", "untagged"):
        c.root.put_object(Bucket=b, Key=k, Body=b"x")
    c.root.put_object_tagging(Bucket=b, Key="tagged",
                              Tagging={"TagSet": [{"Key": "security", "Value": "public"}]})
    arn = f"arn:aws:s3:::{b}"
    policy(c, b, [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": arn,
         "Condition": {"StringLike": {"s3:prefix": "home/${aws:username}/*"},
                       "NumericLessThanEquals": {"s3:max-keys": "10"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{arn}/*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/security": "public"},
                       "IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}},
        # Tags on a write need PutObjectTagging as well, as on AWS.
        {"Effect": "Allow", "Principal": {"AWS": "alice"},
         "Action": ["s3:PutObject", "s3:PutObjectTagging"], "Resource": f"{arn}/*",
         "Condition": {"StringEquals": {"s3:RequestObjectTag/project": "juno"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"{arn}/*",
         "Condition": {"StringLike": {"s3:x-amz-acl": "public*"}}},
        {"Effect": "Deny", "Principal": {"AWS": "bob"}, "Action": "s3:GetObject",
         "Resource": f"{arn}/*",
         "Condition": {"StringNotLikeIfExists": {"aws:Referer": "https://portal.ihep.ac.cn/*"}}},
    ])
    c.alice.list_objects_v2(Bucket=b, Prefix="home/alice/", MaxKeys=10)
    expect_error(lambda: c.alice.list_objects_v2(Bucket=b, Prefix="home/bob/", MaxKeys=10),
                 "AccessDenied", 403)
    expect_error(lambda: c.alice.list_objects_v2(Bucket=b, Prefix="home/alice/", MaxKeys=100),
                 "AccessDenied", 403)
    check(c.anon("GET", f"/{b}/tagged") == 200, "a public tag from a local address")
    check(c.anon("GET", f"/{b}/untagged") == 403, "no tag")
    check(c.anon("GET", f"/{b}/missing") == 403, "a missing key: 403 without list permission")
    c.alice.put_object(Bucket=b, Key="with-tag", Body=b"t", Tagging="project=juno")
    expect_error(lambda: c.alice.put_object(Bucket=b, Key="no-tag", Body=b"t"), "AccessDenied", 403)
    expect_error(lambda: c.alice.put_object(Bucket=b, Key="other", Body=b"t",
                                            Tagging="project=jinping"), "AccessDenied", 403)
    # The deny wins over ownership: even the owner writes no public ACL.
    expect_error(lambda: c.bob.put_object(Bucket=b, Key="pub", Body=b"p", ACL="public-read"),
                 "AccessDenied", 403)
    c.root.put_bucket_acl(Bucket=b, GrantRead="id=bob")
    c.root.put_object_acl(Bucket=b, Key="tagged", GrantRead="id=bob")
    expect_error(lambda: c.bob.get_object(Bucket=b, Key="tagged"), "AccessDenied", 403)
    # A policy naming another bucket by wildcard applies here; one naming
    # only another bucket cannot, and is refused.
    policy(c, b, [{"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "s3:GetObject",
                   "Resource": ["arn:aws:s3:::*/*"]}])
    c.bob.get_object(Bucket=b, Key="untagged")
    expect_error(lambda: policy(c, b, [{"Effect": "Allow", "Principal": "*",
                                        "Action": "s3:GetObject",
                                        "Resource": "arn:aws:s3:::some-other-bucket/*"}]),
                 "MalformedPolicy", 400)
    expect_error(lambda: policy(c, b, [{"Effect": "Allow", "Principal": "*",
                                        "Action": "s3:GetObject", "Resource": f"{arn}/*",
                                        "Condition": {"StringEquals": {"s3:no-such-key": "x"}}}]),
                 "MalformedPolicy", 400)


def public_access_block(c):
    b = c.bucket("pab")
    expect_error(lambda: c.root.get_public_access_block(Bucket=b),
                 "NoSuchPublicAccessBlockConfiguration", 404)
    status = lambda: c.root.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"]  # noqa: E731
    check(status() is False, "a new bucket is not public")
    c.root.put_object(Bucket=b, Key="k", Body=b"1")
    c.root.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": False})
    got = c.root.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
    check(got["BlockPublicAcls"] and got["BlockPublicPolicy"] and not got["IgnorePublicAcls"], f"{got}")
    expect_error(lambda: c.root.put_bucket_acl(Bucket=b, ACL="public-read"), "AccessDenied", 403)
    expect_error(lambda: c.root.put_object(Bucket=b, Key="p", Body=b"1", ACL="public-read"),
                 "AccessDenied", 403)
    c.root.put_object(Bucket=b, Key="p", Body=b"1", ACL="private")
    public = [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
               "Resource": f"arn:aws:s3:::{b}/*"}]
    expect_error(lambda: policy(c, b, public), "AccessDenied", 403)
    pinned = [dict(public[0], Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})]
    policy(c, b, pinned)
    check(status() is False, "a policy pinned to addresses is not public")
    # Lift the blocks: a public policy and ACL are public...
    c.root.delete_public_access_block(Bucket=b)
    expect_error(lambda: c.root.get_public_access_block(Bucket=b),
                 "NoSuchPublicAccessBlockConfiguration", 404)
    policy(c, b, public)
    check(status() is True, "a policy open to everyone is public")
    check(c.anon("GET", f"/{b}/k") == 200, "public policy")
    c.root.delete_bucket_policy(Bucket=b)
    c.root.put_bucket_acl(Bucket=b, ACL="public-read")
    check(status() is True, "a public-read ACL is public")
    check(c.anon("GET", f"/{b}") == 200, "public-read lists")
    # ...until ignored or restricted.
    c.root.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
        "IgnorePublicAcls": True, "RestrictPublicBuckets": True})
    check(c.anon("GET", f"/{b}") == 403, "IgnorePublicAcls")
    c.root.put_bucket_acl(Bucket=b, ACL="private")
    policy(c, b, public)
    check(c.anon("GET", f"/{b}/k") == 403, "RestrictPublicBuckets")
    c.root.get_object(Bucket=b, Key="k")


def days_from_now(n):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=n)


def object_lock(c):
    plain = c.bucket("nolock")
    expect_error(lambda: c.root.get_object_lock_configuration(Bucket=plain),
                 "ObjectLockConfigurationNotFoundError", 404)
    enable = {"ObjectLockEnabled": "Enabled"}
    expect_error(lambda: c.root.put_object_lock_configuration(
        Bucket=plain, ObjectLockConfiguration=enable), "InvalidBucketState", 409)
    c.root.put_object(Bucket=plain, Key="k", Body=b"1")
    expect_error(lambda: c.root.get_object_retention(Bucket=plain, Key="k"), "InvalidRequest", 400)
    b = c.bucket("lock", ObjectLockEnabledForBucket=True)
    v = c.root.get_bucket_versioning(Bucket=b)
    check(v.get("Status") == "Enabled", f"a lock bucket is versioned: {v}")
    expect_error(lambda: c.root.put_bucket_versioning(
        Bucket=b, VersioningConfiguration={"Status": "Suspended"}), "InvalidBucketState", 409)
    expect_error(lambda: c.root.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}}}),
        "MalformedXML", 400)
    c.root.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    got = c.root.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]
    check(got["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}, f"{got}")
    # Default retention; boto3 sends the checksum Object Lock asks for.
    gv = c.root.put_object(Bucket=b, Key="g", Body=b"governed")["VersionId"]
    r = c.root.get_object_retention(Bucket=b, Key="g", VersionId=gv)["Retention"]
    check(r["Mode"] == "GOVERNANCE", f"{r}")
    head = c.root.head_object(Bucket=b, Key="g")
    check(head.get("ObjectLockMode") == "GOVERNANCE" and "ObjectLockRetainUntilDate" in head, f"{head}")
    expect_error(lambda: c.root.delete_object(Bucket=b, Key="g", VersionId=gv), "AccessDenied", 403)
    gone = c.root.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "g", "VersionId": gv}]})
    check([e["Code"] for e in gone.get("Errors", [])] == ["AccessDenied"], f"{gone}")
    # A plain delete only adds a marker; the version stays.
    marker = c.root.delete_object(Bucket=b, Key="g")
    check(marker.get("DeleteMarker") is True, f"{marker}")
    # GOVERNANCE: shortened or removed only with the bypass (and its permission).
    later = days_from_now(2)
    c.root.put_object_retention(Bucket=b, Key="g", VersionId=gv,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later})
    expect_error(lambda: c.root.put_object_retention(
        Bucket=b, Key="g", VersionId=gv,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": days_from_now(1)}), "AccessDenied", 403)
    c.root.put_bucket_acl(Bucket=b, GrantFullControl="id=alice")
    expect_error(lambda: c.alice.delete_object(Bucket=b, Key="g", VersionId=gv,
                                               BypassGovernanceRetention=True), "AccessDenied", 403)
    c.root.delete_object(Bucket=b, Key="g", VersionId=gv, BypassGovernanceRetention=True)
    # COMPLIANCE: no bypass, no shortening, no other mode.
    cv = c.root.put_object(Bucket=b, Key="c", Body=b"kept", ObjectLockMode="COMPLIANCE",
                           ObjectLockRetainUntilDate=later)["VersionId"]
    for ret in ({"Mode": "COMPLIANCE", "RetainUntilDate": days_from_now(1)},
                {"Mode": "GOVERNANCE", "RetainUntilDate": days_from_now(3)}):
        expect_error(lambda: c.root.put_object_retention(Bucket=b, Key="c", VersionId=cv,
                                                         Retention=ret,
                                                         BypassGovernanceRetention=True),
                     "AccessDenied", 403)
    expect_error(lambda: c.root.delete_object(Bucket=b, Key="c", VersionId=cv,
                                              BypassGovernanceRetention=True), "AccessDenied", 403)
    # Legal holds.
    hv = c.root.put_object(Bucket=b, Key="h", Body=b"held", ObjectLockLegalHoldStatus="ON",
                           ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=later)["VersionId"]
    check(c.root.get_object_legal_hold(Bucket=b, Key="h")["LegalHold"]["Status"] == "ON", "hold")
    expect_error(lambda: c.root.delete_object(Bucket=b, Key="h", VersionId=hv,
                                              BypassGovernanceRetention=True), "AccessDenied", 403)
    expect_error(lambda: c.root.put_object_legal_hold(Bucket=b, Key="h", VersionId=hv,
                                                      LegalHold={"Status": "MAYBE"}),
                 "MalformedXML", 400)
    c.root.put_object_legal_hold(Bucket=b, Key="h", VersionId=hv, LegalHold={"Status": "OFF"})
    c.root.delete_object(Bucket=b, Key="h", VersionId=hv, BypassGovernanceRetention=True)
    # Bad lock headers on a write.
    expect_error(lambda: c.root.put_object(Bucket=b, Key="x", Body=b"1", ObjectLockMode="GOVERNANCE"),
                 "InvalidArgument", 400)
    expect_error(lambda: c.root.put_object(Bucket=plain, Key="x", Body=b"1", ObjectLockMode="GOVERNANCE",
                                           ObjectLockRetainUntilDate=later), "InvalidRequest", 400)
    nolock = c.root.put_object(Bucket=plain, Key="n", Body=b"1")
    check("ObjectLockMode" not in c.root.head_object(Bucket=plain, Key="n"), f"{nolock}")


def form_post(c, bucket, fields, filename="data.txt", content=b"hello from a browser",
              follow=False, headers=None):
    """POSTs a browser form (fields, then the file), with any extra request
    `headers`, and returns (status, headers, body)."""
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                     .encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n'.encode())
    body = b"".join(parts) + content + f"\r\n--{boundary}--\r\n".encode()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    headers = dict(headers or {}, **{"Content-Type": f"multipart/form-data; boundary={boundary}"})
    req = urllib.request.Request(f"{c.endpoint}/{bucket}", data=body, method="POST",
                                 headers=headers)
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def post_object(c):
    b = c.bucket("post")
    signer = client(c.endpoint, *c.root_keys, max_attempts=1, signature_version="s3v4")
    post = signer.generate_presigned_post(
        b, "uploads/${filename}",
        Fields={"acl": "public-read", "success_action_status": "201",
                "tagging": "<Tagging><TagSet><Tag><Key>source</Key><Value>portal</Value></Tag></TagSet></Tagging>",
                "x-amz-meta-run": "42"},
        Conditions=[{"acl": "public-read"}, {"success_action_status": "201"},
                    ["starts-with", "$key", "uploads/"], ["starts-with", "$tagging", ""],
                    {"x-amz-meta-run": "42"}, ["content-length-range", 1, 1000]],
        ExpiresIn=600)
    status, headers, body = form_post(c, b, post["fields"])
    check(status == 201, f"POST with success_action_status 201: {status} {body}")
    check("<Key>uploads/data.txt</Key>" in body and "<ETag>" in body, f"PostResponse {body}")
    head = c.root.head_object(Bucket=b, Key="uploads/data.txt")
    check(head["Metadata"].get("run") == "42", f"metadata {head['Metadata']}")
    tags = c.root.get_object_tagging(Bucket=b, Key="uploads/data.txt")["TagSet"]
    check(tags == [{"Key": "source", "Value": "portal"}], f"tags {tags}")
    check(c.anon("GET", f"/{b}/uploads/data.txt") == 200, "the form's public-read ACL")
    # A redirect on success names what was stored.
    post = signer.generate_presigned_post(
        b, "r.txt", Fields={"success_action_redirect": "http://portal.example/done"},
        Conditions=[{"success_action_redirect": "http://portal.example/done"}], ExpiresIn=600)
    status, headers, _ = form_post(c, b, post["fields"])
    location = headers.get("Location", "")
    check(status == 303 and location.startswith("http://portal.example/done?bucket=")
          and "key=r.txt" in location and "etag=" in location, f"redirect {status} {location}")
    # No status asked: 204.
    post = signer.generate_presigned_post(b, "plain.txt", ExpiresIn=600)
    status, _, _ = form_post(c, b, post["fields"])
    check(status == 204, f"default status {status}")
    # Refusals: too large, outside the policy, expired, tampered.
    post = signer.generate_presigned_post(b, "uploads/x", Conditions=[
        ["starts-with", "$key", "uploads/"], ["content-length-range", 1, 10]], ExpiresIn=600)
    status, _, body = form_post(c, b, post["fields"], content=b"x" * 100)
    check(status == 400 and "EntityTooLarge" in body, f"too large: {status} {body}")
    fields = dict(post["fields"], key="elsewhere/x")
    status, _, body = form_post(c, b, fields, content=b"x")
    check(status == 403 and "AccessDenied" in body, f"key outside the policy: {status} {body}")
    expired = signer.generate_presigned_post(b, "late.txt", ExpiresIn=-10)
    status, _, body = form_post(c, b, expired["fields"])
    check(status == 403 and "AccessDenied" in body, f"expired policy: {status} {body}")
    tampered = dict(post["fields"])
    tampered["x-amz-signature"] = "0" * 64
    status, _, body = form_post(c, b, tampered, content=b"x")
    check(status == 403 and "SignatureDoesNotMatch" in body, f"tampered: {status} {body}")
    # Anonymous forms: only where everyone may write.
    status, _, _ = form_post(c, b, {"key": "anon.txt"})
    check(status == 403, f"anonymous POST to a private bucket: {status}")
    c.root.put_bucket_acl(Bucket=b, ACL="public-read-write")
    status, _, body = form_post(c, b, {"key": "anon.txt"})
    check(status == 204, f"anonymous POST to a public-read-write bucket: {status} {body}")
    # A user's form is decided by the user's permissions.
    mine = client(c.endpoint, *c.alice_keys, max_attempts=1, signature_version="s3v4")
    private = c.bucket("post-private")
    post = mine.generate_presigned_post(private, "hers.txt", ExpiresIn=600)
    status, _, _ = form_post(c, private, post["fields"])
    check(status == 403, f"alice's form into root's private bucket: {status}")
    listed = [o["Key"] for o in c.root.list_objects_v2(Bucket=b).get("Contents", [])]
    check(sorted(listed) == ["anon.txt", "plain.txt", "r.txt", "uploads/data.txt"],
          f"only the accepted forms stored: {listed}")


def edges(c):
    """Decisions at the edges: a user id that reads like a group, a listing
    from the top, tags a tagging request sets, the bypass a multi-delete
    asks for, headers a form's sender adds, a delete marker's existence."""
    b = c.bucket("edges")
    c.root.put_object(Bucket=b, Key="home/x", Body=b"x")
    for grant in ("id=group:AllUsers", 'id="group:AuthenticatedUsers"'):
        expect_error(lambda: c.root.put_object_acl(Bucket=b, Key="home/x", GrantRead=grant),
                     "InvalidArgument", 400)
    check(c.anon("GET", f"/{b}/home/x") == 403, "no group grant slipped in")
    arn = f"arn:aws:s3:::{b}"
    policy(c, b, [
        {"Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "s3:ListBucket",
         "Resource": arn, "Condition": {"StringEquals": {"s3:prefix": ["", "home/"]}}},
        {"Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "s3:PutObjectTagging",
         "Resource": f"{arn}/*",
         "Condition": {"StringEquals": {"s3:RequestObjectTag/security": "public"}}},
    ])
    c.alice.list_objects_v2(Bucket=b, Delimiter="/")
    c.alice.list_objects_v2(Bucket=b, Prefix="home/")
    expect_error(lambda: c.alice.list_objects_v2(Bucket=b, Prefix="other/"), "AccessDenied", 403)
    c.alice.put_object_tagging(Bucket=b, Key="home/x",
                               Tagging={"TagSet": [{"Key": "security", "Value": "public"}]})
    expect_error(lambda: c.alice.put_object_tagging(
        Bucket=b, Key="home/x", Tagging={"TagSet": [{"Key": "security", "Value": "secret"}]}),
        "AccessDenied", 403)
    tags = c.root.get_object_tagging(Bucket=b, Key="home/x")["TagSet"]
    check(tags == [{"Key": "security", "Value": "public"}], f"refused tags not set: {tags}")
    # The bypass a DeleteObjects asks for is a permission of its own.
    lock = c.bucket("edges-lock", ObjectLockEnabledForBucket=True)
    v = c.root.put_object(Bucket=lock, Key="g", Body=b"g", ObjectLockMode="GOVERNANCE",
                          ObjectLockRetainUntilDate=days_from_now(1))["VersionId"]
    c.root.put_bucket_acl(Bucket=lock, GrantFullControl="id=alice")
    gone = c.alice.delete_objects(Bucket=lock, BypassGovernanceRetention=True,
                                  Delete={"Objects": [{"Key": "g", "VersionId": v}]})
    check([e["Code"] for e in gone.get("Errors", [])] == ["AccessDenied"], f"{gone}")
    c.root.head_object(Bucket=lock, Key="g", VersionId=v)
    c.root.delete_objects(Bucket=lock, BypassGovernanceRetention=True,
                          Delete={"Objects": [{"Key": "g", "VersionId": v}]})
    # A form's ACL and tags come from its fields, not from headers its
    # sender adds.
    open_bucket = c.bucket("edges-post")
    c.root.put_bucket_acl(Bucket=open_bucket, ACL="public-read-write")
    status, _, body = form_post(c, open_bucket, {"key": "f.txt"}, headers={
        "x-meridian-post-acl": "public-read",
        "x-meridian-post-tagging": "<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"})
    check(status == 204, f"anonymous form: {status} {body}")
    check(c.anon("GET", f"/{open_bucket}/f.txt") == 403, "a smuggled ACL header was taken")
    tags = c.root.get_object_tagging(Bucket=open_bucket, Key="f.txt")["TagSet"]
    check(tags == [], f"smuggled tags were taken: {tags}")
    # Who may not list the bucket learns nothing of a delete marker.
    vb = c.bucket("edges-versions")
    c.root.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": "Enabled"})
    c.root.put_object(Bucket=vb, Key="k", Body=b"1")
    marker = c.root.delete_object(Bucket=vb, Key="k")["VersionId"]
    expect_error(lambda: c.root.head_object(Bucket=vb, Key="k", VersionId=marker),
                 "405", 405)
    check(c.anon("HEAD", f"/{vb}/k?versionId={marker}") == 403, "a marker shown to a stranger")
    check(c.anon("GET", f"/{vb}/k?versionId={marker}") == 403, "a marker shown to a stranger")


def main():
    p = argparse.ArgumentParser()
    for name in ("endpoint", "access-key", "secret-key", "alice-key", "alice-secret",
                 "bob-key", "bob-secret"):
        p.add_argument(f"--{name}", required=True)
    c = Ctx(p.parse_args())
    steps = [("canned_acls", canned_acls), ("acl_grants", acl_grants), ("ownership", ownership),
             ("policy_conditions", policy_conditions),
             ("public_access_block", public_access_block), ("object_lock", object_lock),
             ("post_object", post_object), ("edges", edges)]
    run_steps([(label, lambda step=step: step(c)) for label, step in steps],
              "all boto3 access checks passed")


if __name__ == "__main__":
    main()
