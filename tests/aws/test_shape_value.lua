-- aws.shape_value: timestamp conversions. to_iso formats epoch seconds
-- with strftime for years 1970 to 9999 and with calendar arithmetic
-- otherwise; both must write the same text.
local t = require("t")
local shape_value = require("aws.shape_value")

-- The text the calendar arithmetic writes for epoch seconds VALUE.
local function reference(value)
  return shape_value.format_iso(shape_value.parse_timestamp(value))
end

t.test("to_iso known epoch values", function()
  t.eq(shape_value.to_iso(0), "1970-01-01T00:00:00Z")
  t.eq(shape_value.to_iso(1704164645), "2024-01-02T03:04:05Z")
  t.eq(shape_value.to_iso(1704164645.25), "2024-01-02T03:04:05.250Z")
  t.eq(shape_value.to_iso(1704164645.0005), "2024-01-02T03:04:05Z")
  t.eq(shape_value.to_iso(951782400), "2000-02-29T00:00:00Z")
  t.eq(shape_value.to_iso(253402300799.5), "9999-12-31T23:59:59.500Z")
end)

t.test("to_iso matches calendar arithmetic", function()
  local mismatches = {}
  local value = 0.0
  -- About 2000 values spread over 1970 to 9999, with and without fractions.
  for i = 1, 2000 do
    value = (value * 6364136223846793005 + 1442695040888963407) % 253402300800
    local seconds = value // 1
    for _, sample in ipairs({ seconds, seconds + 0.5, seconds + 0.123456, math.tointeger(seconds) }) do
      if shape_value.to_iso(sample) ~= reference(sample) then
        mismatches[#mismatches + 1] = ("%d: %s ~= %s"):format(i, shape_value.to_iso(sample), reference(sample))
      end
    end
  end
  t.eq(mismatches, {})
end)

t.test("to_iso outside strftime range", function()
  t.eq(shape_value.to_iso(-1), "1969-12-31T23:59:59Z")
  t.eq(shape_value.to_iso(253402300800), reference(253402300800))
  t.eq(shape_value.to_iso("2024-01-02T03:04:05+01:00"), "2024-01-02T02:04:05Z")
  t.eq(shape_value.to_iso("yesterday"), nil)
end)

return t.done()
