-- Settings of the nonprod "test" environment for nonprod-parity.lua.
-- The account id, subnet group and security group ids are placeholders:
-- a team replaces them with its own. The local simulator's parity scenario
-- models exactly this environment, so `mnem run --sim` runs unchanged.
return {
  account = "123456789012",
  region = "eu-west-1",
  profile = "mnemosys-test",

  database = {
    identifier = "mnemosys-test-postgres",
    engine = "postgres",
    engine_version = "16.4",
    class = "db.t4g.large",
    storage_type = "gp3",
    allocated_storage = 200,
    iops = 3000,
    storage_throughput = 125,
    multi_az = true,
    backup_retention_days = 35,
    encrypted = true,
    deletion_protection = true,
    performance_insights_retention_days = 7,
    subnet_group = "mnemosys-nonprod-db",
    security_groups = { "sg-0a1b2c3d4e5f60718" },
    db_name = "mnemosys_test",
    port = 5432,
    wait_timeout = "40m",
    wait_interval = "10s",
    tags = { environment = "test", team = "mnemosys" },
  },

  -- SSM Parameter Store: the admin credentials and app user are read from
  -- here; host, port and name are written here once the instance exists.
  parameters = "/mnemosys/test/db/",

  schema = { name = "mnemosys", privileges = { "USAGE", "CREATE" } },

  service = {
    cluster = "mnemosys-nonprod",
    name = "mnemosys-test-api",
    desired_count = 2,
    health_check_grace_period = 180,
    minimum_healthy_percent = 100,
    maximum_percent = 200,
    log_group = "/ecs/mnemosys-test-api",
    deploy_timeout = "20m",
  },

  load_balancer = { name = "mnemosys-test-alb", port = 8080, health_path = "/health/" },

  migration_gate = { required = "alembic upgrade heads" },
}
