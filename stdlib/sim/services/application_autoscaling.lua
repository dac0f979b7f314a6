-- sim.services.application_autoscaling: the simulated Application Auto
-- Scaling scalable targets (registration only; no scaling policies run).
--
-- Scenario section (optional):
--   application_autoscaling = { targets = { { namespace = "ecs", resource_id = "service/c/s",
--     dimension = "ecs:service:DesiredCount", min = 1, max = 4 } } }
local common = require("sim.services.common")

local M = {}

M.model = "application-autoscaling"

local NAMESPACES = {
  ecs = true, elasticmapreduce = true, ec2 = true, appstream = true, dynamodb = true, rds = true,
  sagemaker = true, ["custom-resource"] = true, comprehend = true, lambda = true, cassandra = true,
  kafka = true, elasticache = true, neptune = true, workspaces = true,
}

local function state(world)
  return common.state(world, "application_autoscaling")
end

local function key_of(namespace, resource_id, dimension)
  return table.concat({ namespace, resource_id, dimension }, "\0")
end

local function check_namespace(ctx, namespace)
  if not NAMESPACES[namespace or ""] then
    ctx.fail("ValidationException", ("1 validation error detected: Value '%s' at 'serviceNamespace' failed to "
      .. "satisfy constraint: Member must satisfy enum value set"):format(tostring(namespace)), 400)
  end
end

local function register(world, fields)
  local st = state(world)
  local key = key_of(fields.namespace, fields.resource_id, fields.dimension)
  local target = st.targets[key]
  if not target then
    target = {
      ServiceNamespace = fields.namespace, ResourceId = fields.resource_id, ScalableDimension = fields.dimension,
      CreationTime = world:now(),
      SuspendedState = { DynamicScalingInSuspended = false, DynamicScalingOutSuspended = false,
                         ScheduledScalingSuspended = false },
      RoleARN = common.arn("iam", "", world.account, "role/aws-service-role/ecs.application-autoscaling"
        .. ".amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService"),
    }
    st.targets[key] = target
  end
  target.MinCapacity = fields.min or target.MinCapacity
  target.MaxCapacity = fields.max or target.MaxCapacity
  target.RoleARN = fields.role or target.RoleARN
  return target
end

M.operations = {}

--- RegisterScalableTarget: creates or updates a target; a new one needs
-- MinCapacity and MaxCapacity.
function M.operations.RegisterScalableTarget(ctx, input)
  check_namespace(ctx, input.ServiceNamespace)
  local key = key_of(input.ServiceNamespace, input.ResourceId, input.ScalableDimension)
  local exists = state(ctx.world).targets[key] ~= nil
  if not exists and (input.MinCapacity == nil or input.MaxCapacity == nil) then
    ctx.fail("ValidationException", "MinCapacity and MaxCapacity are required for registering a new scalable "
      .. "target", 400)
  end
  if input.MinCapacity and input.MaxCapacity and input.MinCapacity > input.MaxCapacity then
    ctx.fail("ValidationException", ("Minimum capacity cannot be greater than maximum capacity"), 400)
  end
  if input.ServiceNamespace == "ecs" and not (input.ResourceId or ""):match("^service/[^/]+/[^/]+$") then
    ctx.fail("ValidationException", ("Unsupported service namespace, resource type or scalable dimension"), 400)
  end
  register(ctx.world, {
    namespace = input.ServiceNamespace, resource_id = input.ResourceId, dimension = input.ScalableDimension,
    min = input.MinCapacity, max = input.MaxCapacity, role = input.RoleARN,
  })
  -- The output has no members in the botocore 1.29 model that mnem embeds.
  -- Later models add ScalableTargetARN.
  return {}
end

--- DescribeScalableTargets: by ServiceNamespace (required), ResourceIds and
-- ScalableDimension, paginated (MaxResults at most 50).
function M.operations.DescribeScalableTargets(ctx, input)
  check_namespace(ctx, input.ServiceNamespace)
  local wanted
  if input.ResourceIds then
    wanted = {}
    for _, id in ipairs(input.ResourceIds) do wanted[id] = true end
  end
  local out = {}
  for _, key in ipairs(common.sorted_keys(state(ctx.world).targets)) do
    local t = state(ctx.world).targets[key]
    if t.ServiceNamespace == input.ServiceNamespace and (not wanted or wanted[t.ResourceId])
       and (not input.ScalableDimension or t.ScalableDimension == input.ScalableDimension) then
      out[#out + 1] = common.copy(t)
    end
  end
  local page, token = common.page(out, input.NextToken, input.MaxResults or 50)
  if not page then ctx.fail("InvalidNextTokenException", "Invalid token", 400) end
  return { ScalableTargets = page, NextToken = token }
end

--- DeregisterScalableTarget: ObjectNotFoundException when not registered.
function M.operations.DeregisterScalableTarget(ctx, input)
  check_namespace(ctx, input.ServiceNamespace)
  local key = key_of(input.ServiceNamespace, input.ResourceId, input.ScalableDimension)
  if not state(ctx.world).targets[key] then
    ctx.fail("ObjectNotFoundException", ("No scalable target registered for service namespace: %s, resource ID: "
      .. "%s, scalable dimension: %s"):format(input.ServiceNamespace, tostring(input.ResourceId),
      tostring(input.ScalableDimension)), 400)
  end
  state(ctx.world).targets[key] = nil
  return {}
end

--- Sets up scalable targets from the scenario's SECTION.
function M.init(world, section)
  state(world).targets = {}
  common.scenario_table("application_autoscaling", section, { "targets" })
  for i, t in ipairs(common.scenario_list("application_autoscaling.targets", (section or {}).targets)) do
    local where = ("application_autoscaling.targets[%d]"):format(i)
    common.scenario_table(where, t, { "namespace", "resource_id", "dimension", "min", "max" })
    common.scenario_value(where .. ".resource_id", t.resource_id, "string")
    common.scenario_value(where .. ".namespace", t.namespace, "string", true)
    common.scenario_value(where .. ".dimension", t.dimension, "string", true)
    common.scenario_value(where .. ".min", t.min, "non-negative integer", true)
    common.scenario_value(where .. ".max", t.max, "non-negative integer", true)
    register(world, {
      namespace = t.namespace or "ecs", resource_id = t.resource_id,
      dimension = t.dimension or "ecs:service:DesiredCount", min = t.min, max = t.max,
    })
  end
end

return M
