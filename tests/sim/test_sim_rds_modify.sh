# RDS ModifyDBInstance through the real AWS CLI and `mnem aws`: only the
# values that differ from the current ones become PendingModifiedValues, a
# request that changes nothing leaves the instance available, and a change
# goes through `modifying`.
. tests/lib/t.sh

DIR=$(mktemp -d "${MNEM_TEST_TMP:-/tmp}/sim-rds-modify.XXXXXX")
# At time_scale 10, `modifying` (90 s) lasts 9 real seconds and the short
# phase of settings applied at once (20 s) lasts 2.
cat >"$DIR/scenario.lua" <<'LUA'
return {
  account = "123456789012", region = "us-east-1", time_scale = 10,
  credentials = { { access_key_id = "test", secret_access_key = "test" } },
  rds = {
    durations = { modifying = 90, modifying_settings = 20 },
    instances = { { identifier = "db", engine = "postgres", class = "db.t4g.small", allocated_storage = 50,
                    storage_type = "gp3", master_username = "admin" } },
  },
}
LUA

. tests/lib/sim_cli.sh

if ! sim_start; then
  t_fail "simulator starts" "$(tail -n 5 "$DIR/sim.log")"
  t_done; exit
fi

DESCRIBE="rds describe-db-instances --db-instance-identifier db"
MODIFY="rds modify-db-instance --db-instance-identifier db"

# shellcheck disable=SC2086
expect "same class with apply-immediately changes nothing" '
(lambda i: i["DBInstanceStatus"] == "available" and i["PendingModifiedValues"] == {})(d["DBInstance"])' \
  awsj $MODIFY --db-instance-class db.t4g.small --apply-immediately
# shellcheck disable=SC2086
expect "unchanged instance stays available" '
(lambda i: i["DBInstanceStatus"] == "available" and i["PendingModifiedValues"] == {})(d["DBInstances"][0])' \
  awsj $DESCRIBE
# shellcheck disable=SC2086
expect "every current value resent changes nothing" '
(lambda i: i["DBInstanceStatus"] == "available" and i["PendingModifiedValues"] == {}
 and i["BackupRetentionPeriod"] == 1)(d["DBInstance"])' \
  awsj $MODIFY --db-instance-class db.t4g.small --allocated-storage 50 --storage-type gp3 --no-multi-az \
  --engine-version 16.3 --ca-certificate-identifier rds-ca-rsa2048-g1 --db-subnet-group-name default \
  --backup-retention-period 1 --no-deletion-protection --vpc-security-group-ids sg-0123456789abcdef0 \
  --apply-immediately
# shellcheck disable=SC2086
expect "larger storage is the only pending value" '
(lambda i: i["DBInstanceStatus"] == "available"
 and i["PendingModifiedValues"] == {"AllocatedStorage": 100})(d["DBInstance"])' \
  awsj $MODIFY --allocated-storage 100
# shellcheck disable=SC2086
expect "current storage cancels the pending size" '
(lambda i: i["PendingModifiedValues"] == {"DBInstanceClass": "db.t4g.medium"}
 and i["AllocatedStorage"] == 50)(d["DBInstance"])' \
  awsj $MODIFY --db-instance-class db.t4g.medium --allocated-storage 50
# shellcheck disable=SC2086
expect "unchanged storage type keeps pending values" '
(lambda i: i["DBInstanceStatus"] == "available"
 and i["PendingModifiedValues"] == {"DBInstanceClass": "db.t4g.medium"})(d["DBInstance"])' \
  awsj $MODIFY --storage-type gp3
if out=$("$MNEM" aws rds modify-db-instance '{"DBInstanceIdentifier": "db", "MultiAZ": false, "DBInstanceClass": "db.t4g.medium"}' \
  --endpoint-url "$ENDPOINT" 2>&1); then
  check "mnem aws sees the same pending values" python3 -c '
import json, sys
i = json.loads(sys.argv[1])["DBInstance"]
sys.exit(0 if i["PendingModifiedValues"] == {"DBInstanceClass": "db.t4g.medium"}
         and i["DBInstanceStatus"] == "available" else 1)' "$out"
else
  t_fail "mnem aws sees the same pending values" "$out"
fi

# shellcheck disable=SC2086
expect "apply-immediately applies earlier pending values" '
(lambda i: i["DBInstanceStatus"] == "modifying" and i["DeletionProtection"] is True
 and i["PendingModifiedValues"] == {"DBInstanceClass": "db.t4g.medium"})(d["DBInstance"])' \
  awsj $MODIFY --deletion-protection --apply-immediately
# shellcheck disable=SC2086
check "pending class is applied" wait_for 60 '
(lambda i: i["DBInstanceStatus"] == "available" and i["DBInstanceClass"] == "db.t4g.medium"
 and i["PendingModifiedValues"] == {})(d["DBInstances"][0])' awsj $DESCRIBE

# shellcheck disable=SC2086
expect "metadata change stays available" '
(lambda i: i["DBInstanceStatus"] == "available" and i["DeletionProtection"] is False
 and i["PendingModifiedValues"] == {})(d["DBInstance"])' \
  awsj $MODIFY --no-deletion-protection --apply-immediately
# shellcheck disable=SC2086
expect "backup retention change is modifying briefly" '
(lambda i: i["DBInstanceStatus"] == "modifying" and i["BackupRetentionPeriod"] == 7
 and i["PendingModifiedValues"] == {})(d["DBInstance"])' \
  awsj $MODIFY --backup-retention-period 7 --apply-immediately
# shellcheck disable=SC2086
check "brief modifying ends" wait_for 30 '
(lambda i: i["DBInstanceStatus"] == "available" and i["PendingModifiedValues"] == {})(d["DBInstances"][0])' \
  awsj $DESCRIBE
# shellcheck disable=SC2086
expect "same backup retention stays available" '
(lambda i: i["DBInstanceStatus"] == "available" and i["BackupRetentionPeriod"] == 7)(d["DBInstance"])' \
  awsj $MODIFY --backup-retention-period 7 --apply-immediately

# Growing gp3 storage to 400 GiB raises its baseline to 12000 IOPS and
# 500 MiB/s, so those values change and are listed as well.
# shellcheck disable=SC2086
expect "gp3 baseline change is pending" '
(lambda p: d["DBInstance"]["DBInstanceStatus"] == "modifying"
 and p == {"AllocatedStorage": 400, "Iops": 12000, "StorageThroughput": 500})(d["DBInstance"]["PendingModifiedValues"])' \
  awsj $MODIFY --allocated-storage 400 --apply-immediately
# shellcheck disable=SC2086
check "gp3 baseline is applied" wait_for 60 '
(lambda i: i["DBInstanceStatus"] == "available" and i["AllocatedStorage"] == 400 and i["Iops"] == 12000
 and i["StorageThroughput"] == 500 and i["PendingModifiedValues"] == {})(d["DBInstances"][0])' awsj $DESCRIBE
# shellcheck disable=SC2086
expect "gp3 storage growth above 400 keeps the baseline" '
d["DBInstance"]["PendingModifiedValues"] == {"AllocatedStorage": 500}' \
  awsj $MODIFY --allocated-storage 500

t_done
