"""The test harness itself: the S3 fixtures reach a real server."""

from __future__ import annotations

from s3harness import S3Target


def test_s3_bucket_is_real_and_empty(s3_target: S3Target, s3_bucket: str) -> None:
    """A fresh bucket exists on the server, starts empty and stores what is PUT."""
    client = s3_target.boto3_client()
    assert 0 == client.list_objects_v2(Bucket=s3_bucket)["KeyCount"]
    client.put_object(Bucket=s3_bucket, Key="probe", Body=b"hello")
    assert b"hello" == client.get_object(Bucket=s3_bucket, Key="probe")["Body"].read()
