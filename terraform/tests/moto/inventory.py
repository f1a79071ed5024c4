"""What exists in moto, as seen through its AWS APIs (boto3), for apply-check.sh.

    inventory.py snapshot           JSON: {"service:kind": [ids...]} of everything listable
    inventory.py user-data ID DIR   the instance's user-data as EC2 returns it, into DIR/ID

The endpoint and region come from AWS_ENDPOINT_URL and AWS_DEFAULT_REGION. A snapshot taken
before `terraform apply` and one taken after `terraform destroy` must be equal: whatever the
apply created is gone, and nothing else was touched.
"""

import base64
import json
import sys

import boto3


def snapshot() -> dict[str, list[str]]:
    ec2 = boto3.client("ec2")
    iam = boto3.client("iam")
    ddb = boto3.client("dynamodb")
    elb = boto3.client("elbv2")
    ec = boto3.client("elasticache")
    ssm = boto3.client("ssm")
    inv = {
        "ec2:instance": [
            i["InstanceId"]
            for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        ],
        "ec2:volume": [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]],
        "ec2:security-group": [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]],
        "ec2:security-group-rule": [r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules()["SecurityGroupRules"]],
        "ec2:address": [a.get("AllocationId", a.get("PublicIp")) for a in ec2.describe_addresses()["Addresses"]],
        "ec2:key-pair": [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]],
        "ec2:vpc": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]],
        "ec2:subnet": [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]],
        "ec2:route-table": [t["RouteTableId"] for t in ec2.describe_route_tables()["RouteTables"]],
        "ec2:network-interface": [n["NetworkInterfaceId"] for n in ec2.describe_network_interfaces()["NetworkInterfaces"]],
        "iam:role": [r["RoleName"] for r in iam.list_roles()["Roles"]],
        "iam:instance-profile": [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]],
        "dynamodb:table": ddb.list_tables()["TableNames"],
        "elbv2:load-balancer": [lb["LoadBalancerArn"] for lb in elb.describe_load_balancers()["LoadBalancers"]],
        "elbv2:target-group": [tg["TargetGroupArn"] for tg in elb.describe_target_groups()["TargetGroups"]],
        "elasticache:replication-group": [g["ReplicationGroupId"] for g in ec.describe_replication_groups()["ReplicationGroups"]],
        "elasticache:cache-cluster": [c["CacheClusterId"] for c in ec.describe_cache_clusters()["CacheClusters"]],
        "elasticache:subnet-group": [g["CacheSubnetGroupName"] for g in ec.describe_cache_subnet_groups()["CacheSubnetGroups"]],
        "ssm:parameter": [p["Name"] for p in ssm.describe_parameters()["Parameters"]],
    }
    # Inline policies die with their role, but list them so that a leftover shows.
    inv["iam:role-policy"] = [f"{r}/{p}" for r in inv["iam:role"] for p in iam.list_role_policies(RoleName=r)["PolicyNames"]]
    return {k: sorted(v) for k, v in inv.items()}


def user_data(instance_id: str, out_dir: str) -> None:
    attr = boto3.client("ec2").describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    value = attr.get("UserData", {}).get("Value")
    if value is None:
        sys.exit(f"{instance_id} has no user-data")
    with open(f"{out_dir}/{instance_id}", "wb") as f:
        f.write(base64.b64decode(value))


if __name__ == "__main__":
    if sys.argv[1:2] == ["snapshot"]:
        json.dump(snapshot(), sys.stdout, indent=1)
        print()
    elif sys.argv[1:2] == ["user-data"] and len(sys.argv) == 4:
        user_data(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
