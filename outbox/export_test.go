package outbox

// LaneScanOf is laneScan, for the claim's cost tests in outbox_test.
var LaneScanOf = laneScan
