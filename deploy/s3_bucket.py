"""Wait until the S3 endpoint answers, then make sure the bucket exists.

Run by the stack's web and worker processes before they start (SeaweedFS starts
beside them). Reads the same variables as the server: AWS_S3_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_STORAGE_BUCKET_NAME, AWS_S3_REGION_NAME.
"""

import argparse
import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wait", type=float, default=120, help="seconds to wait for the endpoint")
    args = parser.parse_args()
    bucket = os.environ.get("AWS_STORAGE_BUCKET_NAME", "stratus")
    s3 = boto3.client(
        "s3", endpoint_url=os.environ.get("AWS_S3_ENDPOINT_URL") or None,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        region_name=os.environ.get("AWS_S3_REGION_NAME", "us-east-1"),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2,
                      read_timeout=10),
    )
    deadline = time.monotonic() + args.wait
    last_error = None
    while time.monotonic() < deadline:
        try:
            s3.head_bucket(Bucket=bucket)
            print(f"s3: bucket {bucket} is ready", flush=True)
            return 0
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                try:
                    s3.create_bucket(Bucket=bucket)
                    print(f"s3: created bucket {bucket}", flush=True)
                    continue  # confirm with a HEAD
                except ClientError as create_error:
                    last_error = create_error
            else:
                last_error = exc
        except Exception as exc:  # endpoint not up yet
            last_error = exc
        time.sleep(1)
    print(f"s3: {os.environ.get('AWS_S3_ENDPOINT_URL')} not ready after {args.wait}s: {last_error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
