-- empty.lua: the smallest useful scenario, with every framework key shown.
--
-- It is built into mnem: start it with `mnem sim serve --scenario empty`.
-- A scenario is a Lua file that returns one table. The keys below belong to
-- the simulator's framework. The service sections (rds, ssm, ecs, logs,
-- elbv2, application_autoscaling, secretsmanager, sts) are described in
-- docs/simulator.md, and every one of them may be left out.
return {
  name = "empty",
  description = "No resources: an account with one access key.",
  account = "123456789012",
  region = "us-east-1",
  -- Requests signed for another region are accepted when true. With false,
  -- only `region` is accepted.
  any_region = true,
  -- Keys the signature check accepts. Secret keys of 8 characters or more
  -- are masked in every log line.
  credentials = {
    { access_key_id = "test", secret_access_key = "test" },
  },
  -- Simulated seconds per real second: 60 turns a 5-minute RDS creation
  -- into 5 real seconds.
  time_scale = 1,
  -- Seed of request ids, of world:random() and of the injected faults.
  seed = 1,
  -- Injected failures; rates between 0 and 1, latency in seconds.
  faults = {
    -- { service = "ssm", operation = "GetParameter", throttle = 0.1 },
  },
}
