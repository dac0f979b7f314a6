-- aws.waiter_extra: mnem's additions to the published AWS waiter
-- definitions (botocore's waiters-2.json), applied by aws.waiter.
--
-- `failure_acceptors` are put in front of a waiter's published acceptors.
-- Each one stops a wait at once for a state from which the resource never
-- becomes ready by itself, where the published waiter would poll until its
-- timeout or, for ECS, could report success. An addition identical to a
-- published acceptor is skipped, so a newer model that publishes it does
-- not test it twice. docs/waiters.md lists every addition with its reason.
--
-- `state_expressions` replace the default progress text (the value at the
-- first path acceptor's argument) where that value shows little.
local M = {}

-- Returns a pathAny failure acceptor on ARGUMENT for each state in STATES;
-- REASONS maps a state to why it is final.
local function any_of(argument, states, reasons)
  local acceptors = {}
  for _, state in ipairs(states) do
    acceptors[#acceptors + 1] = {
      state = "failure", matcher = "pathAny", argument = argument, expected = state, reason = reasons[state],
    }
  end
  return acceptors
end

local RDS_INSTANCE_REASONS = {
  stopped = "a stopped instance stays stopped until start_db_instance is called",
  stopping = "a stopping instance ends stopped, never available",
  ["storage-full"] = "the instance has no storage left and needs more allocated storage",
  ["incompatible-network"] = "RDS cannot reach the instance's subnets or network interfaces",
  ["inaccessible-encryption-credentials"] = "RDS cannot use the instance's KMS key",
  ["restore-error"] = "the restore from a snapshot or point in time failed",
}

--- Failure acceptors added per service (aws.model name) and waiter (AWS
-- name), checked in this order before the published acceptors.
M.failure_acceptors = {
  rds = {
    DBInstanceAvailable = any_of("DBInstances[].DBInstanceStatus", {
      "stopped", "stopping", "storage-full", "incompatible-network",
      "inaccessible-encryption-credentials", "restore-error",
    }, RDS_INSTANCE_REASONS),
  },
  ecs = {
    ServicesStable = any_of("services[].deployments[].rolloutState", { "FAILED" }, {
      FAILED = "the deployment circuit breaker failed the deployment; after its rollback the service looks stable"
        .. " on the old task definition",
    }),
  },
}

--- JMESPath expressions giving the progress text of a waiter, per service
-- and waiter, where the default would show an empty list.
M.state_expressions = {
  ecs = {
    ServicesStable = "services[].join(' ', [status, join('/', [to_string(runningCount), to_string(desiredCount)]),"
      .. " 'running,', to_string(length(deployments || `[]`)), 'deployments'])",
    ServicesInactive = "services[].status",
  },
}

return M
