-- sim.services.elbv2: the simulated Application Load Balancers, their
-- listeners and target groups.
--
-- Target health comes from the ECS services registered in each target
-- group (sim.services.ecs). Each listener is also served on a loopback
-- port by the simulator core: M.listeners lists them and
-- M.listener_request answers the HTTP requests, with 200 on the health
-- path while the service behind has a healthy task of its primary
-- deployment, else 503. ARNs are derived from the names, so the same
-- scenario always gives the same ARNs.
--
-- Scenario section (optional):
--   elbv2 = {
--     target_groups = { { name = "app-tg", port = 8000, protocol = "HTTP", health_check_path = "/health/",
--                         vpc_id = "vpc-..." } },
--     load_balancers = { { name = "app-alb", scheme = "internet-facing", security_groups = { "sg-..." },
--                          listeners = { { port = 80, protocol = "HTTP", target_group = "app-tg" } } } },
--   }
-- An ECS service is behind a target group when its loadBalancers name the
-- group's ARN (the ecs scenario's `target_group = "app-tg"` does that).
local cjson = require("cjson")
local common = require("sim.services.common")

local M = {}

M.model = "elbv2"

local function state(world)
  return common.state(world, "elbv2")
end

-- Returns 16 lowercase hex digits derived from TEXT (64-bit FNV-1a).
local function name_hash(text)
  local h = 0xcbf29ce484222325 -- the FNV-1a 64-bit offset basis (hex literals wrap in Lua 5.4)
  for i = 1, #text do
    h = h ~ text:byte(i)
    h = h * 1099511628211
  end
  return ("%016x"):format(h)
end

local function region_of(world)
  return world.region or "us-east-1"
end

--- Returns the ARN of the target group NAME in WORLD.
function M.target_group_arn(world, name)
  return common.arn("elasticloadbalancing", region_of(world), world.account,
    ("targetgroup/%s/%s"):format(name, name_hash("tg:" .. name)))
end

local function load_balancer_arn(world, name)
  return common.arn("elasticloadbalancing", region_of(world), world.account,
    ("loadbalancer/app/%s/%s"):format(name, name_hash("lb:" .. name)))
end

local function dns_name(world, name)
  local digits = tostring(tonumber(name_hash("dns:" .. name):sub(1, 8), 16))
  return ("%s-%s.%s.elb.localhost"):format(name, digits, region_of(world))
end

local function lb_output(world, lb)
  local zones = {}
  for i, subnet in ipairs(lb.subnets) do
    zones[#zones + 1] = { ZoneName = region_of(world) .. string.char(96 + i), SubnetId = subnet,
                          LoadBalancerAddresses = {} }
  end
  return {
    LoadBalancerArn = lb.arn, DNSName = lb.dns_name, CanonicalHostedZoneId = "Z32O12XQLNTSW2",
    CreatedTime = lb.created, LoadBalancerName = lb.name, Scheme = lb.scheme, VpcId = lb.vpc_id,
    State = { Code = "active" }, Type = "application", AvailabilityZones = zones,
    SecurityGroups = common.copy(lb.security_groups), IpAddressType = "ipv4",
  }
end

local function tg_output(world, tg)
  local lbs = {}
  for _, lb in ipairs(common.sorted_values(state(world).load_balancers)) do
    for _, l in ipairs(lb.listeners) do
      if l.target_group == tg.name then
        lbs[#lbs + 1] = lb.arn
        break
      end
    end
  end
  return {
    TargetGroupArn = tg.arn, TargetGroupName = tg.name, Protocol = tg.protocol, Port = tg.port,
    VpcId = tg.vpc_id, HealthCheckProtocol = tg.protocol, HealthCheckPort = "traffic-port",
    HealthCheckEnabled = true, HealthCheckIntervalSeconds = 30, HealthCheckTimeoutSeconds = 5,
    HealthyThresholdCount = 5, UnhealthyThresholdCount = 2, HealthCheckPath = tg.health_check_path,
    Matcher = { HttpCode = "200" }, LoadBalancerArns = lbs, TargetType = "ip", ProtocolVersion = "HTTP1",
    IpAddressType = "ipv4",
  }
end

local function listener_output(lb, l)
  return {
    ListenerArn = l.arn, LoadBalancerArn = lb.arn, Port = l.port, Protocol = l.protocol,
    DefaultActions = { { Type = "forward", TargetGroupArn = l.target_group_arn, Order = 1,
                         ForwardConfig = { TargetGroups = { { TargetGroupArn = l.target_group_arn, Weight = 1 } },
                                           TargetGroupStickinessConfig = { Enabled = false } } } },
  }
end

local function find_lb_by_arn(world, arn)
  for _, lb in pairs(state(world).load_balancers) do
    if lb.arn == arn then return lb end
  end
end

M.operations = {}

local function lb_not_found(ctx)
  ctx.fail("LoadBalancerNotFound", "One or more load balancers not found", 400)
end

--- DescribeLoadBalancers: by Names or LoadBalancerArns, or all.
function M.operations.DescribeLoadBalancers(ctx, input)
  local st = state(ctx.world)
  local out = {}
  if input.Names and input.LoadBalancerArns then
    ctx.fail("ValidationError", "Load balancer names and load balancer ARNs cannot be specified at the same time",
      400)
  end
  if input.Names then
    for _, name in ipairs(input.Names) do
      local lb = st.load_balancers[name]
      if not lb then lb_not_found(ctx) end
      out[#out + 1] = lb_output(ctx.world, lb)
    end
  elseif input.LoadBalancerArns then
    for _, arn in ipairs(input.LoadBalancerArns) do
      local lb = find_lb_by_arn(ctx.world, arn)
      if not lb then lb_not_found(ctx) end
      out[#out + 1] = lb_output(ctx.world, lb)
    end
  else
    for _, lb in ipairs(common.sorted_values(st.load_balancers)) do out[#out + 1] = lb_output(ctx.world, lb) end
  end
  local page, marker = common.page(out, input.Marker, input.PageSize or 400)
  if not page then ctx.fail("ValidationError", "Invalid marker", 400) end
  return { LoadBalancers = page, NextMarker = marker }
end

local function tg_not_found(ctx)
  ctx.fail("TargetGroupNotFound", "One or more target groups not found", 400)
end

local function find_tg_by_arn(world, arn)
  for _, tg in pairs(state(world).target_groups) do
    if tg.arn == arn then return tg end
  end
end

--- DescribeTargetGroups: by LoadBalancerArn, TargetGroupArns or Names, or all.
function M.operations.DescribeTargetGroups(ctx, input)
  local world = ctx.world
  local st = state(world)
  local picked = {}
  if input.Names then
    for _, name in ipairs(input.Names) do picked[#picked + 1] = st.target_groups[name] or tg_not_found(ctx) end
  elseif input.TargetGroupArns then
    for _, arn in ipairs(input.TargetGroupArns) do
      picked[#picked + 1] = find_tg_by_arn(world, arn) or tg_not_found(ctx)
    end
  elseif input.LoadBalancerArn then
    local lb = find_lb_by_arn(world, input.LoadBalancerArn) or lb_not_found(ctx)
    local seen = {}
    for _, l in ipairs(lb.listeners) do
      if not seen[l.target_group] and st.target_groups[l.target_group] then
        seen[l.target_group] = true
        picked[#picked + 1] = st.target_groups[l.target_group]
      end
    end
  else
    picked = common.sorted_values(st.target_groups)
  end
  local out = {}
  for _, tg in ipairs(picked) do out[#out + 1] = tg_output(world, tg) end
  local page, marker = common.page(out, input.Marker, input.PageSize or 400)
  if not page then ctx.fail("ValidationError", "Invalid marker", 400) end
  return { TargetGroups = page, NextMarker = marker }
end

--- DescribeTargetHealth: the ECS tasks registered in the target group.
function M.operations.DescribeTargetHealth(ctx, input)
  local tg = find_tg_by_arn(ctx.world, input.TargetGroupArn or "") or tg_not_found(ctx)
  local out = {}
  for _, target in ipairs(ctx.world:service("ecs").targets(ctx.world, tg.arn)) do
    local wanted = not input.Targets
    for _, t in ipairs(input.Targets or {}) do
      if t.Id == target.id then wanted = true end
    end
    if wanted then
      out[#out + 1] = {
        Target = { Id = target.id, Port = target.port, AvailabilityZone = region_of(ctx.world) .. "a" },
        HealthCheckPort = tostring(target.port),
        TargetHealth = { State = target.state, Reason = target.reason, Description = target.description },
      }
    end
  end
  return { TargetHealthDescriptions = out }
end

--- DescribeListeners: by LoadBalancerArn or ListenerArns.
function M.operations.DescribeListeners(ctx, input)
  local world = ctx.world
  local out = {}
  if input.LoadBalancerArn then
    local lb = find_lb_by_arn(world, input.LoadBalancerArn) or lb_not_found(ctx)
    for _, l in ipairs(lb.listeners) do out[#out + 1] = listener_output(lb, l) end
  elseif input.ListenerArns then
    for _, arn in ipairs(input.ListenerArns) do
      local found
      for _, lb in pairs(state(world).load_balancers) do
        for _, l in ipairs(lb.listeners) do
          if l.arn == arn then found = listener_output(lb, l) end
        end
      end
      if not found then ctx.fail("ListenerNotFound", "One or more listeners not found", 400) end
      out[#out + 1] = found
    end
  else
    ctx.fail("ValidationError", "You must specify either listener ARNs or a load balancer ARN", 400)
  end
  local page, marker = common.page(out, input.Marker, input.PageSize or 400)
  if not page then ctx.fail("ValidationError", "Invalid marker", 400) end
  return { Listeners = page, NextMarker = marker }
end

--- Returns the listeners the simulator core binds on loopback ports:
-- a list of { load_balancer = name, dns_name, port }.
function M.listeners(world)
  local out = {}
  for _, lb in ipairs(common.sorted_values(state(world).load_balancers)) do
    for _, l in ipairs(lb.listeners) do
      out[#out + 1] = { load_balancer = lb.name, dns_name = lb.dns_name, port = l.port }
    end
  end
  return out
end

local function json_response(status, body)
  return status, { { "Content-Type", "application/json" } }, cjson.encode(body)
end

--- Answers an HTTP request REQ that arrived on LISTENER ({ load_balancer,
-- port, ... } from M.listeners). Returns status, headers, body.
function M.listener_request(ctx, listener, req)
  local world = ctx.world
  local lb = state(world).load_balancers[listener.load_balancer]
  local l
  for _, candidate in ipairs(lb and lb.listeners or {}) do
    if candidate.port == listener.port then l = candidate end
  end
  if not l then
    return 503, { { "Content-Type", "text/plain" } }, "mnem simulator: no such listener\n"
  end
  local tg = state(world).target_groups[l.target_group]
  local targets = tg and world:service("ecs").targets(world, tg.arn) or {}
  local healthy, seen = 0, {}
  for _, target in ipairs(targets) do
    if target.state == "healthy" and target.primary then healthy = healthy + 1 end
    seen[#seen + 1] = ("%s:%d %s%s"):format(target.id, target.port, target.state,
      target.detail and (" (" .. target.detail .. ")") or "")
  end
  local path = (req.path or "/"):gsub("%?.*$", "")
  local health_path = tg and tg.health_check_path or "/health/"
  if healthy == 0 then
    local reason = #targets == 0 and "no registered targets" or ("no healthy targets: " .. table.concat(seen, ", "))
    return json_response(503, { status = "unavailable", load_balancer = lb.name,
                                target_group = tg and tg.name, reason = reason })
  end
  if path == health_path then return json_response(200, { status = "ok" }) end
  return json_response(404, { detail = "Not Found" })
end

--- Sets up target groups and load balancers from the scenario's `elbv2`
-- SECTION.
function M.init(world, section)
  section = section or {}
  local st = state(world)
  st.load_balancers, st.target_groups = {}, {}
  common.scenario_table("elbv2", section, { "vpc_id", "target_groups", "load_balancers" })
  common.scenario_value("elbv2.vpc_id", section.vpc_id, "string", true)
  local vpc = section.vpc_id or "vpc-0a1b2c3d4e5f60718"
  for i, spec in ipairs(common.scenario_list("elbv2.target_groups", section.target_groups)) do
    local where = ("elbv2.target_groups[%d]"):format(i)
    common.scenario_table(where, spec, { "name", "port", "protocol", "health_check_path", "vpc_id" })
    common.scenario_value(where .. ".name", spec.name, "string")
    common.scenario_value(where .. ".port", spec.port, "port number (1-65535)", true)
    for _, key in ipairs({ "protocol", "health_check_path", "vpc_id" }) do
      common.scenario_value(where .. "." .. key, spec[key], "string", true)
    end
    st.target_groups[spec.name] = {
      name = spec.name, arn = M.target_group_arn(world, spec.name), port = spec.port or 80,
      protocol = spec.protocol or "HTTP", health_check_path = spec.health_check_path or "/health/",
      vpc_id = spec.vpc_id or vpc,
    }
  end
  for i, spec in ipairs(common.scenario_list("elbv2.load_balancers", section.load_balancers)) do
    local where = ("elbv2.load_balancers[%d]"):format(i)
    common.scenario_table(where, spec, { "name", "dns_name", "scheme", "vpc_id", "security_groups", "subnets",
      "listeners" })
    common.scenario_value(where .. ".name", spec.name, "string")
    for _, key in ipairs({ "dns_name", "scheme", "vpc_id" }) do
      common.scenario_value(where .. "." .. key, spec[key], "string", true)
    end
    common.scenario_table(where .. ".security_groups", spec.security_groups)
    common.scenario_table(where .. ".subnets", spec.subnets)
    for j, ls in ipairs(common.scenario_list(where .. ".listeners", spec.listeners)) do
      local at = ("%s.listeners[%d]"):format(where, j)
      common.scenario_table(at, ls, { "port", "protocol", "target_group" })
      common.scenario_value(at .. ".port", ls.port, "port number (1-65535)")
      common.scenario_value(at .. ".protocol", ls.protocol, "string", true)
      common.scenario_value(at .. ".target_group", ls.target_group, "string")
      if not st.target_groups[ls.target_group] then
        common.scenario_fail(at .. ".target_group", ("%q is not in elbv2.target_groups"):format(ls.target_group))
      end
    end
    local lb = {
      name = spec.name, arn = load_balancer_arn(world, spec.name),
      dns_name = spec.dns_name or dns_name(world, spec.name),
      scheme = spec.scheme or "internet-facing", vpc_id = spec.vpc_id or vpc, created = world:now() - 86400 * 90,
      security_groups = spec.security_groups or { "sg-0a1b2c3d4e5f60719" },
      subnets = spec.subnets or { "subnet-0bbbbbbbbbbbbbbb1", "subnet-0bbbbbbbbbbbbbbb2" }, listeners = {},
    }
    for _, ls in ipairs(spec.listeners or {}) do
      if not st.target_groups[ls.target_group] then
        error(("scenario elbv2 load balancer %s: listener %d forwards to unknown target group %s")
          :format(spec.name, ls.port, tostring(ls.target_group)), 0)
      end
      lb.listeners[#lb.listeners + 1] = {
        port = ls.port, protocol = ls.protocol or "HTTP", target_group = ls.target_group,
        target_group_arn = M.target_group_arn(world, ls.target_group),
        arn = common.arn("elasticloadbalancing", region_of(world), world.account,
          ("listener/app/%s/%s/%s"):format(spec.name, name_hash("lb:" .. spec.name),
            name_hash("listener:" .. spec.name .. ":" .. ls.port))),
      }
    end
    st.load_balancers[spec.name] = lb
  end
end

return M
