-- aws: the AWS module playbooks use.
--
--   aws.rds.describe_db_instances{ DBInstanceIdentifier = "db1" }
--   aws.ssm.try.get_parameter{ Name = "/x" }       --> output, or nil, err
--   aws.try(aws.rds.delete_db_instance, params)     --> output, or nil, err
--   aws.logs.paginate("filter_log_events", params)  --> iterator over pages
--   aws.ssm.get_all("get_parameters_by_path", p)    --> all pages in one result
--   aws.rds.wait("db_instance_available", params, { timeout = "40m" })
--   local c = aws.client{ region = "eu-west-1", profile = "ops" }
--   aws.configure{ profile = "ops" }                -- settings of the default client
--   c.ecs.describe_services{ cluster = "c", services = { "s" } }
--
-- Services (aws.rds, aws.ssm, aws.ecs, aws.logs, aws.elbv2,
-- aws.application_autoscaling or aws["application-autoscaling"], aws.sts,
-- aws.secretsmanager) belong to a default client made on first use with no
-- options, so the environment and the shared config files decide its
-- settings. Calls raise mnem.errors values (kind "aws") on failure; see
-- aws.client for the steps of a call.
local client = require("aws.client")
local errors = require("mnem.errors")

local M = {}

local default_client

--- Makes a client with its own settings; see aws.client.new for OPTIONS.
-- It has the same shape as this module: `c.rds.describe_db_instances{}`.
function M.client(options)
  return client.new(options)
end

--- Replaces the default client with one made from OPTIONS (as for
-- aws.client), so every later `aws.<service>.<op>` call of the process uses
-- that profile, region or endpoint. Returns the new client.
function M.configure(options)
  default_client = client.new(options)
  return default_client
end

--- Returns the default client, made on first use.
function M.default_client()
  default_client = default_client or client.new()
  return default_client
end

--- Calls FN(...) and returns its results, or nil and the error when FN
-- raises a mnem.errors value (an AWS failure). Other errors (misuse, such
-- as an unknown parameter) are raised again.
function M.try(fn, ...)
  if type(fn) ~= "function" then
    error(("aws.try: expected a function, got %s"):format(type(fn)), 2)
  end
  local results = table.pack(pcall(fn, ...))
  if results[1] then return table.unpack(results, 2, results.n) end
  if errors.is(results[2]) then return nil, results[2] end
  error(results[2], 0)
end

return setmetatable(M, {
  __index = function(_, key)
    if type(key) ~= "string" then return nil end
    return M.default_client()[key]
  end,
})
