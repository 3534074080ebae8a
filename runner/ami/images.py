"""This project's AMIs for an env: listed newest first with the launch templates (and the pinned
``ami.auto.tfvars.json``) that use them, and pruned: all but the newest N deregistered with their snapshots, never
one in use."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from runner.ami.packer import TFVARS_NAME, AmiSettings, image_tags, tfvars_path
from runner.aws.context import AwsContext
from runner.core.errors import UsageError
from runner.core.project import Env


@dataclass
class ImageInfo:
    ami_id: str
    name: str
    state: str
    created: str
    build_time: str
    git_sha: str
    source_ami: str
    snapshots: list[str]
    in_use_by: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PruneResult:
    env: str
    keep: int
    kept: list[ImageInfo]
    protected: list[ImageInfo]
    deleted: list[ImageInfo]
    deleted_snapshots: list[str]
    failed: list[str]
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "keep": self.keep,
            "dry_run": self.dry_run,
            "kept": [i.to_dict() for i in self.kept],
            "protected": [i.to_dict() for i in self.protected],
            "deleted": [i.to_dict() for i in self.deleted],
            "deleted_snapshots": self.deleted_snapshots,
            "failed": self.failed,
        }

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def image_info(image: Mapping[str, Any]) -> ImageInfo:
    tags = image_tags(image)
    snapshots = [
        m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")
    ]
    return ImageInfo(
        ami_id=image["ImageId"],
        name=image.get("Name", ""),
        state=image.get("State", ""),
        created=str(image.get("CreationDate", "")),
        build_time=tags.get("BuildTime", ""),
        git_sha=tags.get("GitSha", ""),
        source_ami=tags.get("SourceAMI", ""),
        snapshots=snapshots,
    )


def newest_first(images: list[ImageInfo]) -> list[ImageInfo]:
    return sorted(images, key=lambda i: (i.build_time or i.created, i.created, i.name), reverse=True)


def plan_prune(
    images: list[ImageInfo], keep: int, in_use: Mapping[str, list[str]]
) -> tuple[list[ImageInfo], list[ImageInfo], list[ImageInfo]]:
    """(kept, protected, to delete): the newest `keep` stay; older ones in use are protected."""
    ordered = newest_first(images)
    kept, older = ordered[:keep], ordered[keep:]
    protected = [i for i in older if i.ami_id in in_use]
    delete = [i for i in older if i.ami_id not in in_use]
    return kept, protected, delete


class Images:
    """This project's AMIs of one env: list and prune."""

    def __init__(self, env: Env, home: Path | None = None) -> None:
        self.env = env
        self.settings = AmiSettings.from_env(env)
        self.aws = AwsContext(env, home)

    @property
    def ec2(self) -> Any:
        return self.aws.client("ec2")

    def list_images(self) -> list[ImageInfo]:
        filters = [
            {"Name": "tag:Project", "Values": [self.settings.project]},
            {"Name": "tag:Env", "Values": [self.env.name]},
        ]
        images: list[ImageInfo] = []
        for page in self.ec2.get_paginator("describe_images").paginate(Owners=["self"], Filters=filters):
            images.extend(image_info(img) for img in page.get("Images", []))
        uses = self.in_use()
        for image in images:
            image.in_use_by = uses.get(image.ami_id, [])
        return newest_first(images)

    def in_use(self) -> dict[str, list[str]]:
        """AMI id -> what uses it: every version of every launch template in the region, and the env's tfvars."""
        uses: dict[str, list[str]] = {}
        for page in self.ec2.get_paginator("describe_launch_templates").paginate():
            for template in page.get("LaunchTemplates", []):
                lt_id = template["LaunchTemplateId"]
                label = template.get("LaunchTemplateName") or lt_id
                paginator = self.ec2.get_paginator("describe_launch_template_versions")
                for vpage in paginator.paginate(LaunchTemplateId=lt_id):
                    for version in vpage.get("LaunchTemplateVersions", []):
                        image_id = version.get("LaunchTemplateData", {}).get("ImageId")
                        if image_id:
                            number = version.get("VersionNumber")
                            uses.setdefault(image_id, []).append(f"launch template {label} ({lt_id}) v{number}")
        pinned = tfvars_path(self.env)
        if pinned.exists():
            try:
                ami_id = json.loads(pinned.read_text()).get("ami_id")
            except (json.JSONDecodeError, AttributeError):
                ami_id = None
            if ami_id:
                uses.setdefault(ami_id, []).append(f"envs/{self.env.name}/{TFVARS_NAME}")
        return uses

    def prune(self, keep: int, dry_run: bool = False) -> PruneResult:
        if keep < 1:
            raise UsageError(f"--keep: {keep} would remove every image; keep at least 1")
        images = self.list_images()
        in_use = {i.ami_id: i.in_use_by for i in images if i.in_use_by}
        kept, protected, delete = plan_prune(images, keep, in_use)
        result = PruneResult(
            env=self.env.name,
            keep=keep,
            kept=kept,
            protected=protected,
            deleted=[],
            deleted_snapshots=[],
            failed=[],
            dry_run=dry_run,
        )
        if dry_run:
            result.deleted = delete
            return result
        for image in delete:
            try:
                self.ec2.deregister_image(ImageId=image.ami_id)
            except ClientError as exc:
                result.failed.append(f"{image.ami_id}: {exc.response.get('Error', {}).get('Message', exc)}")
                continue
            result.deleted.append(image)
            for snapshot in image.snapshots:
                try:
                    self.ec2.delete_snapshot(SnapshotId=snapshot)
                    result.deleted_snapshots.append(snapshot)
                except ClientError as exc:
                    result.failed.append(f"{snapshot}: {exc.response.get('Error', {}).get('Message', exc)}")
        return result
