"""moto_server, plus five fixes that our configuration's apply, plan and destroy need.

apply-check.sh runs this instead of the moto_server script. Where moto (pinned in
../../moto-requirements.txt) differs from AWS:

- RunInstances without network interfaces: AWS creates the primary interface with
  DeleteOnTermination true, so it goes with the instance; moto creates it with false and keeps
  it after termination, which apply-check.sh would report as left behind. Here the implicit
  primary interface is deleted on termination, as in AWS.

- DeleteCacheSubnetGroup: not implemented at all, so `terraform destroy` of
  aws_elasticache_subnet_group fails. The stand-in does what AWS does: deletes the group,
  refuses one that a replication group still uses (CacheSubnetGroupInUse), and answers
  CacheSubnetGroupNotFoundFault for an unknown name.
- DescribeSecurityGroupRules: moto leaves out the description of a rule that references
  another security group (it keeps only descriptions of CIDR rules), so the next plan wants to
  set it again on the Redis rule. AWS returns it; here too.
- CreateReplicationGroup: moto sizes a group without cluster mode by ReplicasPerNodeGroup and
  ignores NumCacheClusters; and it names the member clusters (GROUP-001, ...) but creates
  none, so DescribeCacheClusters, which the provider calls on a member to read the security
  groups, parameter group and encryption, answers CacheClusterNotFound. AWS does both; here
  the group gets NumCacheClusters members, created with the group's settings.
- DeleteReplicationGroup: moto marks the group "deleting" and keeps it forever, so Terraform,
  which waits until the group is gone, would wait out its 40-minute timeout. AWS removes the
  group and its member clusters once deleted; here that happens at once.

Each fix refuses to load once moto does it itself, so that a moto upgrade drops it. Nothing
else of moto is changed.
"""

import sys

from moto.core.responses import EmptyResult
from moto.ec2.models.instances import Instance
from moto.ec2.models.security_groups import SecurityGroupRule
from moto.elasticache.exceptions import CacheSubnetGroupNotFound, ElastiCacheException
from moto.elasticache.models import ElastiCacheBackend
from moto.elasticache.responses import ElastiCacheResponse
from moto.server import main


class CacheSubnetGroupInUse(ElastiCacheException):
    code = "CacheSubnetGroupInUse"


def delete_cache_subnet_group(self: ElastiCacheResponse) -> EmptyResult:
    name = self._get_param("CacheSubnetGroupName")
    backend = self.elasticache_backend
    if name not in backend.cache_subnet_groups:
        raise CacheSubnetGroupNotFound(name)
    if any(g.cache_subnet_group_name == name for g in backend.replication_groups.values()):
        raise CacheSubnetGroupInUse(f"Cache subnet group {name} is in use.")
    del backend.cache_subnet_groups[name]
    return EmptyResult()


_moto_create_replication_group = ElastiCacheBackend.create_replication_group
_moto_delete_replication_group = ElastiCacheBackend.delete_replication_group


def create_replication_group(self: ElastiCacheBackend, replication_group_id: str, **kwargs):  # noqa: ANN003, ANN201
    # Without cluster mode, moto sizes the group from ReplicasPerNodeGroup only; AWS takes
    # NumCacheClusters (primary + replicas), which is what the provider sends.
    if kwargs.get("num_cache_clusters") and not kwargs.get("replicas_per_node_group") and not kwargs.get("num_node_groups"):
        kwargs["replicas_per_node_group"] = kwargs["num_cache_clusters"] - 1
    group = _moto_create_replication_group(self, replication_group_id=replication_group_id, **kwargs)
    azs = kwargs.get("preferred_cache_cluster_azs") or []
    for n, member in enumerate(group.member_clusters):
        if member in self.cache_clusters:
            raise RuntimeError(f"moto now creates member cluster {member}: review tests/moto/server.py")
        cluster = self.create_cache_cluster(
            cache_cluster_id=member,
            replication_group_id=replication_group_id,
            az_mode="single-az",
            preferred_availability_zone=azs[n] if n < len(azs) else None,
            num_cache_nodes=1,
            cache_node_type=kwargs["cache_node_type"],
            engine=kwargs.get("engine") or "redis",
            engine_version=kwargs.get("engine_version"),
            cache_parameter_group_name=kwargs.get("cache_parameter_group_name"),
            cache_subnet_group_name=kwargs.get("cache_subnet_group_name"),
            transit_encryption_enabled=kwargs.get("transit_encryption_enabled"),
            network_type=kwargs.get("network_type"),
            ip_discovery=kwargs.get("ip_discovery"),
            snapshot_name=None,
            preferred_maintenance_window=kwargs.get("preferred_maintenance_window"),
            port=kwargs.get("port"),
            notification_topic_arn=kwargs.get("notification_topic_arn"),
            auto_minor_version_upgrade=kwargs.get("auto_minor_version_upgrade"),
            snapshot_retention_limit=kwargs.get("snapshot_retention_limit"),
            snapshot_window=kwargs.get("snapshot_window"),
            auth_token=None,
            outpost_mode=None,
            preferred_outpost_arn=None,
            preferred_availability_zones=None,
            cache_security_group_names=kwargs.get("cache_security_group_names"),
            security_group_ids=kwargs.get("security_group_ids"),
            tags=None,
            snapshot_arns=None,
            preferred_outpost_arns=None,
            log_delivery_configurations=[],
            cache_node_ids_to_remove=None,
            cache_node_ids_to_reboot=None,
        )
        # What DescribeCacheClusters reports that moto's cache clusters do not keep.
        cluster.security_groups = [{"SecurityGroupId": g, "Status": "active"} for g in kwargs.get("security_group_ids") or []]
        cluster.cache_parameter_group = {
            "CacheParameterGroupName": kwargs.get("cache_parameter_group_name"),
            "ParameterApplyStatus": "in-sync",
        }
        cluster.at_rest_encryption_enabled = bool(kwargs.get("at_rest_encryption_enabled"))
    return group


def delete_replication_group(self: ElastiCacheBackend, replication_group_id: str, retain_primary_cluster: bool | None):  # noqa: ANN201
    members = list(self.replication_groups[replication_group_id].member_clusters) if replication_group_id in self.replication_groups else []
    group = _moto_delete_replication_group(self, replication_group_id, retain_primary_cluster)
    if self.replication_groups.get(replication_group_id) is not group or group.status != "deleting":
        raise RuntimeError("moto's DeleteReplicationGroup changed: review the stand-in in tests/moto/server.py")
    del self.replication_groups[replication_group_id]
    for member in members:
        self.cache_clusters.pop(member, None)
    return group


_moto_prep_nics = Instance.prep_nics


def prep_nics(self: Instance, nic_spec, *args, **kwargs) -> None:  # noqa: ANN001
    implicit = not nic_spec
    _moto_prep_nics(self, nic_spec, *args, **kwargs)
    if implicit:
        self.nics[0].delete_on_termination = True


Instance.prep_nics = prep_nics

_moto_rule_description = SecurityGroupRule.description.fget


def rule_description(self: SecurityGroupRule) -> str | None:
    return _moto_rule_description(self) or (self.source_group or {}).get("Description")


SecurityGroupRule.description = property(rule_description)

if hasattr(ElastiCacheResponse, "delete_cache_subnet_group"):
    sys.exit("moto now implements DeleteCacheSubnetGroup itself: remove the stand-in from tests/moto/server.py")
ElastiCacheResponse.delete_cache_subnet_group = delete_cache_subnet_group
ElastiCacheBackend.create_replication_group = create_replication_group
ElastiCacheBackend.delete_replication_group = delete_replication_group

if __name__ == "__main__":
    main()
