# Sourced by the quickstart and test scripts: where this machine keeps the PDK.
# A user elsewhere sets ASICFLOW_PDK_ROOT (or pdk_root in a flow) to their lambdapdk copy.
if [ -z "${ASICFLOW_PDK_ROOT:-}" ] && [ -d "../shared/pdk/lambdapdk-sky130" ]; then
  ASICFLOW_PDK_ROOT="$(cd ../shared/pdk/lambdapdk-sky130 && pwd)"
  export ASICFLOW_PDK_ROOT
fi
export PATH="$PWD/.venv/bin:$PATH"
