-- aws.protocol.common: helpers both wire codecs (query and JSON) share,
-- and the per-model cache of compiled shapes that aws.validate uses too.
local M = {}

--- Returns the value of serialization attribute KEY for member reference
-- REF: the reference's own value, else the target shape's, as botocore
-- merges them.
function M.ref_attr(m, ref, key)
  if ref[key] ~= nil then return ref[key] end
  local shape = m.shapes[ref.shape]
  return shape and shape[key]
end

-- compiled[model][slot]: see M.compiled. Weak keys, so a model made for a
-- test is collected with its functions.
local compiled = setmetatable({}, { __mode = "k" })

--- Returns the cache in which the codecs keep, for model M, the functions
-- they compile from its shapes under SLOT (one table per codec and
-- direction). A codec walks a shape once to build a function for it, so
-- later calls neither look up member attributes nor visit members the
-- value does not have.
function M.compiled(m, slot)
  local all = compiled[m]
  if not all then
    all = {}
    compiled[m] = all
  end
  local cache = all[slot]
  if not cache then
    cache = {}
    all[slot] = cache
  end
  return cache
end

--- Returns what BUILD(m, key) made for KEY of model M, cached under SLOT of
-- M.compiled. BUILD returns the value (a function or plan) and, for shapes
-- with members, a function that fills in the members' values. The fill
-- runs after the value is cached, so a shape that contains itself gets the
-- same value.
function M.compiled_for(m, slot, key, build)
  local cache = M.compiled(m, slot)
  local value = cache[key]
  if value ~= nil then return value end
  local fill
  value, fill = build(m, key)
  cache[key] = value
  if fill then fill() end
  return value
end

--- Returns the value of header NAME (any case) from HEADERS, given either
-- as a map of names to values or as a list of {name, value} pairs.
function M.header_value(headers, name)
  if type(headers) ~= "table" then return nil end
  local expected = name:lower()
  -- mnem._curl returns a map keyed by lower-case names.
  local direct = headers[expected]
  if type(direct) == "string" then return direct end
  for key, value in pairs(headers) do
    if type(key) == "string" and key:lower() == expected then return value end
    if type(value) == "table" and type(value[1]) == "string" and value[1]:lower() == expected then
      return value[2]
    end
  end
  return nil
end

--- Returns the model's operation OPERATION (AWS or snake_case name);
-- raises naming the service when it has none, as a misuse of the codec's
-- caller (error level 3).
function M.find_operation(m, operation)
  local op = m:operation(operation)
  if not op then error(("%s: unknown operation %s"):format(m.service, tostring(operation)), 3) end
  return op
end

--- Returns a short single-line excerpt of BODY without tags or control
-- bytes, for error messages about responses that could not be parsed.
function M.excerpt(body)
  local text = tostring(body or ""):gsub("<[^>]*>", " "):gsub("[%c%s]+", " "):gsub("^ ", ""):gsub(" $", "")
  text = text:gsub("[\128-\255]", "?")
  if #text > 160 then text = text:sub(1, 157) .. "..." end
  return text
end

--- Returns the error shape CODE names, by shape name or by its
-- error.code, or nil.
function M.error_shape(m, code)
  local shape = m.shapes[code]
  if shape and shape.exception then return shape end
  for _, candidate in pairs(m.shapes) do
    if candidate.exception and candidate.error and candidate.error.code == code then return candidate end
  end
  return nil
end

return M
