-- dist/template.yaml: the project's template with its functions' CodeUri folders replaced by
-- the handlers zips moonrun package made, and every other relative ContentUri/CodeUri pointed
-- back at the project, so `sam deploy --template-file dist/template.yaml` uploads exactly the
-- zips (development files left out), while template.yaml itself keeps the folders that moonrun
-- dev runs. The template is rewritten line by line, not re-emitted, so its comments, order and
-- intrinsics stay as written; a CodeUri written any other way than `CodeUri: PATH` on a line of
-- its own is reported, and no dist/template.yaml is written then.
local files = require "moonrun.package.files"

local M = {}

-- PATH lexically resolved against dir ("." and ".." segments removed), as SAM resolves it.
local function resolve(dir, path)
  local parts = {}
  for segment in ((path:sub(1, 1) == "/" and "" or dir .. "/") .. path):gmatch("[^/]+") do
    if segment == ".." then parts[#parts] = nil
    elseif segment ~= "." then parts[#parts + 1] = segment end
  end
  return "/" .. table.concat(parts, "/")
end

local function is_local(value)
  return value ~= "" and not value:match("^s3://") and not value:match("^https?://") and not value:match("^[!{%[]")
end

-- text: the template; dir: its folder (the project's); zips: {[code folder] = "handlers-src.zip"}.
-- Returns the rewritten text, or nil and why.
function M.rewrite(text, dir, zips)
  local out, replaced = {}, {}
  for line in (text:sub(-1) == "\n" and text or text .. "\n"):gmatch("([^\n]*)\n") do
    local lead, key, rest = line:match("^(%s*%-?%s*)(%a+Uri):%s*(.-)%s*$")
    local value, tail = (rest or ""):match("^(.-)(%s+#.*)$")
    if not value then value, tail = rest or "", "" end
    local quote, inner = value:match("^([\"'])(.*)%1$")
    if inner then value = inner else quote = "" end
    if (key == "CodeUri" or key == "ContentUri") and is_local(value) then
      local target = resolve(dir, value)
      local zip = key == "CodeUri" and zips[target]
      if zip then
        replaced[target] = true
        line = lead .. key .. ": " .. quote .. zip .. quote .. tail
      elseif target:sub(1, #dir + 6) == dir .. "/dist/" then
        line = lead .. key .. ": " .. quote .. target:sub(#dir + 7) .. quote .. tail
      else
        line = lead .. key .. ": " .. quote .. "../" .. target:sub(#dir + 2) .. quote .. tail
        if target:sub(1, #dir + 1) ~= dir .. "/" then
          return nil, string.format("%s: %s is outside the project", key, value)
        end
      end
    end
    out[#out + 1] = line
  end
  for folder, zip in pairs(zips) do
    if not replaced[folder] then
      return nil, string.format("no 'CodeUri: PATH' line names %s (zipped as %s)", folder, zip)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

-- Writes dist/template.yaml; returns nil and why when the template cannot be rewritten.
function M.write(template_path, project, zips, dist)
  local text = files.read(template_path)
  if not text then return nil, "cannot read " .. template_path end
  local rewritten, why = M.rewrite(text, project, zips)
  if not rewritten then return nil, why end
  files.write(dist .. "/template.yaml", rewritten)
  return true
end

return M
