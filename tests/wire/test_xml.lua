-- Tests of mnem._xml: the element tables parse() builds, the typed values
-- read() builds by a plan, their limits against hostile documents, and
-- escape().
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

-- read(): values typed by a plan ------------------------------------------

-- A structure plan with FIELDS given as { element = { member, plan,
-- flattened } }.
local function struct(fields, attributes)
  return { 1, fields, attributes or false }
end

t.test("xml read members, skip others", function()
  local plan = struct{
    Name = { "Name", "string", false },
    Size = { "Size", "integer", false },
    Ratio = { "Ratio", "float", false },
    On = { "On", "boolean", false },
    Inner = { "Inner", struct{ Id = { "Id", "string", false } }, false },
  }
  local doc = "<R xmlns='x'><Unknown><Name>no</Name></Unknown><Name>db &amp; co</Name><Size>20</Size>"
    .. "<Ratio>2</Ratio><On>true</On><Inner><Id>i-1</Id><Other>z</Other></Inner><Name>second</Name></R>"
  local value = assert(xml.read(doc, plan))
  t.eq(value, { Name = "db & co", Size = 20, Ratio = 2.0, On = true, Inner = { Id = "i-1" } },
    "first element of a member wins; unknown elements and their children are skipped")
  t.eq(math.type(value.Size), "integer")
  t.eq(math.type(value.Ratio), "float")
end)

t.test("xml read scalar conversions", function()
  local plan = struct{ N = { "N", "integer", false }, F = { "F", "float", false }, B = { "B", "boolean", false } }
  local cases = {
    { "<r><N>1e3</N></r>", { N = 1000 } }, { "<r><N> 7 </N></r>", { N = 7 } },
    { "<r><N>2.5</N></r>", { N = 2.5 } }, { "<r><N>0x10</N></r>", { N = 16 } },
    { "<r><B>yes</B></r>", { B = false } }, { "<r><N></N><F/></r>", {} }, { "<r><N> </N></r>", {} },
  }
  for _, case in ipairs(cases) do t.eq(assert(xml.read(case[1], plan)), case[2], case[1]) end
  local invalid = {
    { "<r><N>abc</N></r>", 'member N is not a valid integer: "abc"' },
    { "<r><F>x</F></r>", 'member F is not a valid float: "x"' },
    { "<r><N>4</N><N>bad</N></r>", 'member N is not a valid integer: "bad"' },
  }
  for _, case in ipairs(invalid) do
    local value, problem = xml.read(case[1], plan)
    t.eq(value, nil, case[1])
    t.contains(problem, case[2])
  end
end)

t.test("xml read scalar own text", function()
  local plan = struct{ S = { "S", "string", false } }
  t.eq(assert(xml.read("<r><S>a<b>inner</b>c</S></r>", plan)), { S = "ac" })
  t.eq(assert(xml.read("<r><S><![CDATA[<x>]]></S></r>", plan)), { S = "<x>" })
  t.eq(assert(xml.read("<r><S/></r>", plan)), { S = "" })
end)

t.test("xml read ignores prefixes", function()
  local plan = struct{ A = { "A", "string", false } }
  t.eq(assert(xml.read("<p:r xmlns:p='u'><p:A>1</p:A></p:r>", plan)), { A = "1" })
end)

t.test("xml read lists, maps and function plans", function()
  local upper = function(text) return text:upper() end
  local plan = struct{
    Ids = { "Ids", { 2, "string", false }, false },
    Nums = { "Nums", { 2, "integer", false }, false },
    Tags = { "Tags", { 3, "key", "value", "string", upper }, false },
    Up = { "Up", upper, false },
  }
  local doc = "<r><Ids><member>a</member><member>b</member></Ids><Nums><m>1</m><m/><m>3</m></Nums>"
    .. "<Tags><entry><key>k1</key><value>v1</value></entry><entry><value>orphan</value></entry>"
    .. "<entry><key>k2</key><other/><value>v2</value><value>late</value></entry></Tags><Up>shout</Up></r>"
  t.eq(assert(xml.read(doc, plan)), {
    Ids = { "a", "b" }, Nums = { 1, 3 }, Tags = { k1 = "V1", k2 = "V2" }, Up = "SHOUT",
  })
  t.eq(assert(xml.read("<r><Ids/></r>", plan)), { Ids = {} }, "an empty list")
end)

t.test("xml read flattened members", function()
  local item = struct{ Name = { "Name", "string", false } }
  local plan = struct{
    Item = { "Items", { 2, item, false }, true },
    Pair = { "Pairs", { 3, "k", "v", "string", "integer" }, true },
    Tail = { "Tail", "string", false },
  }
  local doc = "<r><Item><Name>a</Name></Item><Pair><k>x</k><v>1</v></Pair><Tail>t</Tail>"
    .. "<Item><Name>b</Name></Item><Pair><k>y</k><v>2</v></Pair></r>"
  t.eq(assert(xml.read(doc, plan)), {
    Items = { { Name = "a" }, { Name = "b" } }, Pairs = { x = 1, y = 2 }, Tail = "t",
  }, "items of a flattened member may be interleaved with other members")
end)

t.test("xml read flattened list items", function()
  local plan = struct{
    Groups = { "Groups", { 2, { 2, "string", false }, true }, false },
    Maps = { "Maps", { 2, { 3, "k", "v", "string", "string" }, true }, false },
  }
  local doc = "<r><Groups><g>a</g><g>b</g></Groups><Maps><e><k>1</k><v>one</v></e></Maps></r>"
  t.eq(assert(xml.read(doc, plan)), { Groups = { { "a" }, { "b" } }, Maps = { { ["1"] = "one" } } })
end)

t.test("xml read attribute members", function()
  local plan = struct({ Id = { "Id", "string", false }, Kind = { "Kind", "string", false } },
    { { "Id", "id" }, { "Kind", "kind" } })
  t.eq(assert(xml.read("<r id='7' kind='a'><Kind>element</Kind></r>", plan)), { Id = "7", Kind = "element" })
  t.eq(assert(xml.read("<r/>", plan)), {}, "no attributes")
end)

t.test("xml read recursive plans", function()
  local node = struct{}
  node[2].Name = { "Name", "string", false }
  node[2].Child = { "Child", node, false }
  local doc = "<r><Name>1</Name><Child><Name>2</Name><Child><Name>3</Name></Child></Child></r>"
  t.eq(assert(xml.read(doc, node)), { Name = "1", Child = { Name = "2", Child = { Name = "3" } } })
end)

t.test("xml read errors and limits", function()
  local plan = struct{ A = { "A", "string", false } }
  local value, err = xml.read("<r><A>1</A>", plan)
  t.eq(value, nil)
  t.contains(err, "XML parse error at line 1, column 12: no element found")
  value, err = xml.read("", plan)
  t.eq(value, nil)
  t.contains(err, "no element found")
  value, err = xml.read(("<A>"):rep(65) .. ("</A>"):rep(65), { 1, { A = { "A", "string", false } }, false })
  t.eq(value, nil)
  t.contains(err, "deeper than 64 levels", "the depth limit holds in skipped and read elements")
  value, err = xml.read('<!DOCTYPE r [<!ENTITY e "x">]><r><A>&e;</A></r>', plan)
  t.eq(value, nil)
  t.contains(err, "DOCTYPE is not allowed")
  -- A list whose items are flattened lists of itself opens a frame per
  -- level without reading an element: the frame limit stops it.
  local loop = { 2, false, true }
  loop[2] = loop
  value, err = xml.read("<r><L><i/></L></r>", struct{ L = { "L", loop, false } })
  t.eq(value, nil)
  t.contains(err, "nests deeper than the reader allows")
  t.raises(function() xml.read("<r/>", true) end, "plan expected")
  t.raises(function() xml.read(nil, "string") end, "string expected")
  value, err = xml.read(("x"):rep(32 * 1024 * 1024 + 1), plan)
  t.eq(value, nil)
  t.contains(err, "32 MiB")
end)

t.test("xml read plan function raises", function()
  local plan = struct{ T = { "T", function() error("bad time", 0) end, false } }
  t.raises(function() xml.read("<r><T>x</T></r>", plan) end, "bad time")
  -- The parser of the failed read is released; the next read works.
  t.eq(assert(xml.read("<r><A>1</A></r>", struct{ A = { "A", "string", false } })), { A = "1" })
end)

return t.done()
