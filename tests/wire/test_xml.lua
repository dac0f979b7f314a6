-- Tests of mnem._xml: the element tables parse() builds, its limits
-- against hostile documents, and escape().
local t = require("t")
local xml = require("mnem._xml")

t.test("xml nesting and order", function()
  local root = assert(xml.parse("<a><b>1</b><c><d>2</d></c><b>3</b></a>"))
  t.eq(root.name, "a")
  t.eq(#root, 3, "children")
  t.eq(root[1].name, "b")
  t.eq(root[1].text, "1")
  t.eq(root[2][1].name, "d")
  t.eq(root[2][1].text, "2")
  t.eq(root[3].text, "3")
  t.eq(root.attrs, nil, "no attrs table without attributes")
end)

t.test("xml attributes and namespaces", function()
  local root = assert(xml.parse(
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" a="1" b=\'x &amp; y\'/>'))
  t.eq(root.name, "soap:Envelope")
  t.eq(root.attrs, { ["xmlns:soap"] = "http://schemas.xmlsoap.org/soap/envelope/", a = "1", b = "x & y" })
  t.eq(root.text, "")
end)

t.test("xml text with entities", function()
  local root = assert(xml.parse("<m>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#65;&#x42; \xc3\xa9</m>"))
  t.eq(root.text, "a <b> & \"c\" 'd' AB \xc3\xa9")
end)

t.test("xml mixed content text", function()
  local root = assert(xml.parse("<p>one<b>two</b>three</p>"))
  t.eq(root.text, "onethree", "own character data only")
  t.eq(root[1].text, "two")
end)

t.test("xml CDATA", function()
  local root = assert(xml.parse("<s><![CDATA[<not> & a tag]]>!</s>"))
  t.eq(root.text, "<not> & a tag!")
end)

t.test("xml whitespace kept", function()
  local root = assert(xml.parse("<a>\n  <b> x </b>\n</a>"))
  t.eq(root.text, "\n  \n", "caller trims")
  t.eq(root[1].text, " x ")
end)

t.test("xml RDS-like response", function()
  local doc = [[<?xml version="1.0" encoding="UTF-8"?>
<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <DescribeDBInstancesResult>
    <DBInstances>
      <DBInstance>
        <DBInstanceIdentifier>db-1</DBInstanceIdentifier>
        <DBInstanceStatus>available</DBInstanceStatus>
        <Endpoint><Address>db-1.abc.us-east-1.rds.amazonaws.com</Address><Port>5432</Port></Endpoint>
      </DBInstance>
      <DBInstance>
        <DBInstanceIdentifier>db-2</DBInstanceIdentifier>
        <DBInstanceStatus>modifying</DBInstanceStatus>
      </DBInstance>
    </DBInstances>
  </DescribeDBInstancesResult>
  <ResponseMetadata><RequestId>7f2c1b9e-0000-4000-8000-000000000001</RequestId></ResponseMetadata>
</DescribeDBInstancesResponse>]]
  local root = assert(xml.parse(doc))
  t.eq(root.name, "DescribeDBInstancesResponse")
  t.eq(root.attrs.xmlns, "http://rds.amazonaws.com/doc/2014-10-31/")
  local instances = root[1][1]
  t.eq(instances.name, "DBInstances")
  t.eq(#instances, 2)
  t.eq(instances[1][1].text, "db-1")
  t.eq(instances[1][3][2].text, "5432")
  t.eq(instances[2][2].text, "modifying")
  t.eq(root[2][1].text, "7f2c1b9e-0000-4000-8000-000000000001")
end)

t.test("xml malformed input", function()
  local cases = {
    { "<a><b></a>", "line 1" },
    { "<a>", "no element found" },
    { "", "no element found" },
    { "<a></a><b/>", "junk after document element" },
    { "<a>\n<b x='1' x='2'/></a>", "line 2" },
    { "<a>&unknown;</a>", "undefined entity" },
    { "<a>\xff</a>", "not well-formed" },
  }
  for _, case in ipairs(cases) do
    local root, err = xml.parse(case[1])
    t.eq(root, nil, case[1])
    t.contains(err, "XML parse error at line ", case[1])
    t.contains(err, case[2], case[1])
  end
end)

t.test("xml error reports column", function()
  local _, err = xml.parse("<a>\n  <b></c></a>")
  t.contains(err, "line 2, column 8: mismatched tag", "points at the wrong tag name")
end)

t.test("xml depth limit", function()
  local ok = xml.parse(("<e>"):rep(64) .. ("</e>"):rep(64))
  t.ok(ok, "64 levels are allowed")
  local root, err = xml.parse(("<e>"):rep(65) .. ("</e>"):rep(65))
  t.eq(root, nil)
  t.contains(err, "deeper than 64 levels")
  root, err = xml.parse(("<e>"):rep(100000))
  t.eq(root, nil, "very deep")
  t.contains(err, "deeper than 64 levels")
end)

t.test("xml rejects DOCTYPE entity expansion", function()
  local lines = { '<?xml version="1.0"?>', "<!DOCTYPE lolz [", '<!ENTITY lol "lol">' }
  for i = 1, 9 do
    local prev = i == 1 and "&lol;" or ("&lol" .. (i - 1) .. ";")
    lines[#lines + 1] = ('<!ENTITY lol%d "%s">'):format(i, prev:rep(10))
  end
  lines[#lines + 1] = "]>"
  lines[#lines + 1] = "<lolz>&lol9;</lolz>"
  local root, err = xml.parse(table.concat(lines, "\n"))
  t.eq(root, nil)
  t.contains(err, "DOCTYPE is not allowed")
end)

t.test("xml rejects external entities", function()
  local root, err = xml.parse('<!DOCTYPE a SYSTEM "file:///etc/passwd"><a>&x;</a>')
  t.eq(root, nil)
  t.contains(err, "DOCTYPE is not allowed")
end)

t.test("xml size limit", function()
  local big = "<a>" .. ("x"):rep(32 * 1024 * 1024) .. "</a>"
  local root, err = xml.parse(big)
  t.eq(root, nil)
  t.contains(err, "32 MiB")
  local fits = "<a>" .. ("x"):rep(1024 * 1024) .. "</a>"
  t.eq(#assert(xml.parse(fits)).text, 1024 * 1024, "1 MiB of text")
end)

t.test("xml escape", function()
  t.eq(xml.escape([[a&b<c>d"e'f]]), "a&amp;b&lt;c&gt;d&quot;e&apos;f")
  t.eq(xml.escape("tab\tnl\ncr\r"), "tab&#9;nl&#10;cr&#13;")
  t.eq(xml.escape("caf\xc3\xa9"), "caf\xc3\xa9", "UTF-8 kept")
  t.raises(function() xml.escape("bell\7") end, "cannot appear in XML 1.0")
end)

t.test("xml escape round trip", function()
  local samples = { [[<tag attr="v">&amp; 'q' </tag>]], "line1\nline2\r\n\tindent", "plain", "" }
  for _, s in ipairs(samples) do
    local text = assert(xml.parse("<t>" .. xml.escape(s) .. "</t>")).text
    t.eq(text, s, "element content")
    local attr = assert(xml.parse('<t v="' .. xml.escape(s) .. '"/>')).attrs
    t.eq(attr and attr.v or "", s, "attribute value")
  end
end)

t.test("xml wrong argument types", function()
  t.raises(function() xml.parse(nil) end, "string expected")
  t.raises(function() xml.escape({}) end, "string expected")
end)

return t.done()
