# RDS through the real AWS CLI against `mnem sim serve`: the instance
# lifecycle, modification, deletion protection and the AWS error codes.
# The test polls describe-db-instances every second itself, because
# `aws rds wait` sleeps 30 s between polls. Each `aws rds wait` runs only
# once its state is reached, so it returns on its first poll and still
# checks that the CLI's waiter accepts the simulator's output.
. tests/lib/t.sh

DIR=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/svc-rds.XXXXXX")
cat >"$DIR/scenario.lua" <<'LUA'
return {
  account = "123456789012", region = "us-east-1", time_scale = 50,
  credentials = { { access_key_id = "test", secret_access_key = "test" } },
  rds = {
    durations = { creating = 1000, backing_up = 120, modifying = 90, deleting = 60 },
    subnet_groups = { { name = "app-db", description = "app databases", vpc_id = "vpc-0123456789abcdef0",
                        subnets = { { id = "subnet-0aaa", az = "us-east-1a" }, { id = "subnet-0bbb", az = "us-east-1b" } } } },
  },
}
LUA

. tests/lib/sim_cli.sh

if ! "$MNEM" help sim >/dev/null 2>&1; then
  t_skip "rds through the aws cli" "this build has no mnem sim command yet"
  t_done; exit
fi
if ! sim_start; then
  t_fail "simulator starts" "$(tail -n 5 "$DIR/sim.log")"
  t_done; exit
fi

CREATE="rds create-db-instance --db-instance-identifier app-db --db-instance-class db.t4g.micro --engine postgres
  --allocated-storage 20 --storage-type gp3 --master-username app --master-user-password Secret-pw-123
  --db-subnet-group-name app-db --vpc-security-group-ids sg-0123456789abcdef0 --db-name app"

# shellcheck disable=SC2086
expect "create returns creating" 'd["DBInstance"]["DBInstanceStatus"] == "creating" and d["DBInstance"]["Iops"] == 3000' \
  awsj $CREATE
# This check runs right after the create, because `creating` lasts 1000
# simulated seconds (20 s at time_scale 50: room for a few AWS CLI calls on
# a slow, loaded machine). The next check proves that the instance was
# still creating.
expect_error "modify while creating" InvalidDBInstanceState awsj rds modify-db-instance \
  --db-instance-identifier app-db --allocated-storage 30 --apply-immediately
expect "rejected modify left it creating" '
(lambda i: i["DBInstanceStatus"] == "creating" and i["AllocatedStorage"] == 20
 and i["PendingModifiedValues"] == {})(d["DBInstances"][0])' \
  awsj rds describe-db-instances --db-instance-identifier app-db
# shellcheck disable=SC2086
expect_error "create twice is DBInstanceAlreadyExists" DBInstanceAlreadyExists awsj $CREATE
expect_error "iops on small gp3 is rejected" InvalidParameterCombination awsj rds create-db-instance \
  --db-instance-identifier other --db-instance-class db.t4g.micro --engine postgres --allocated-storage 20 \
  --storage-type gp3 --iops 3000 --master-username app --master-user-password Secret-pw-123
expect_error "unknown subnet group" DBSubnetGroupNotFoundFault awsj rds create-db-instance \
  --db-instance-identifier other --db-instance-class db.t4g.micro --engine postgres --allocated-storage 20 \
  --master-username app --master-user-password Secret-pw-123 --db-subnet-group-name nope
expect_error "unknown instance is DBInstanceNotFound" DBInstanceNotFound awsj rds describe-db-instances \
  --db-instance-identifier nope
if out=$(awsj rds describe-db-instances --db-instance-identifier nope 2>&1); then :; fi
check "not-found message is AWS's" sh -c 'printf "%s" "$1" | grep -q "DBInstance nope not found"' _ "$out"
expect "subnet group is described" 'd["DBSubnetGroups"][0]["VpcId"] == "vpc-0123456789abcdef0"' \
  awsj rds describe-db-subnet-groups --db-subnet-group-name app-db
expect_error "unknown subnet group is not found" DBSubnetGroupNotFoundFault awsj rds describe-db-subnet-groups \
  --db-subnet-group-name nope

check "instance becomes available" wait_for 120 'd["DBInstances"][0]["DBInstanceStatus"] == "available"' \
  awsj rds describe-db-instances --db-instance-identifier app-db
check "wait db-instance-available returns" awsj rds wait db-instance-available --db-instance-identifier app-db
expect "available instance has its fields" '
(lambda i: i["DBInstanceStatus"] == "available" and i["Endpoint"]["Port"] == 5432
 and i["Endpoint"]["Address"].startswith("app-db.") and i["StorageType"] == "gp3" and i["AllocatedStorage"] == 20
 and i["StorageThroughput"] == 125 and i["DBSubnetGroup"]["DBSubnetGroupName"] == "app-db"
 and i["VpcSecurityGroups"][0]["VpcSecurityGroupId"] == "sg-0123456789abcdef0" and i["DBName"] == "app"
 and i["MasterUsername"] == "app" and i["MultiAZ"] is False and i["PendingModifiedValues"] == {})(d["DBInstances"][0])' \
  awsj rds describe-db-instances --db-instance-identifier app-db

expect "modify shows pending values" '
d["DBInstance"]["DBInstanceStatus"] == "modifying" and d["DBInstance"]["PendingModifiedValues"]["DBInstanceClass"] == "db.t4g.small"' \
  awsj rds modify-db-instance --db-instance-identifier app-db --db-instance-class db.t4g.small \
  --deletion-protection --apply-immediately
expect_error "delete is refused while protected" InvalidParameterCombination awsj rds delete-db-instance \
  --db-instance-identifier app-db --skip-final-snapshot
check "modification completes" wait_for 60 'd["DBInstances"][0]["DBInstanceStatus"] == "available"' \
  awsj rds describe-db-instances --db-instance-identifier app-db
expect "modification applied" 'd["DBInstances"][0]["DBInstanceClass"] == "db.t4g.small"' \
  awsj rds describe-db-instances --db-instance-identifier app-db
expect "protection removed" 'd["DBInstance"]["DeletionProtection"] is False' \
  awsj rds modify-db-instance --db-instance-identifier app-db --no-deletion-protection
expect_error "delete needs a snapshot decision" InvalidParameterCombination awsj rds delete-db-instance \
  --db-instance-identifier app-db
expect "delete starts deleting" 'd["DBInstance"]["DBInstanceStatus"] == "deleting"' \
  awsj rds delete-db-instance --db-instance-identifier app-db --skip-final-snapshot
check "instance is deleted" wait_for_error 60 DBInstanceNotFound \
  awsj rds describe-db-instances --db-instance-identifier app-db
check "wait db-instance-deleted returns" awsj rds wait db-instance-deleted --db-instance-identifier app-db

t_done
