#!/usr/bin/env bats
# nested_virt: the guest's CPU offers SVM (or VMX), its kernel's KVM gives it /dev/kvm, and a
# VM of its own runs there. Without the setting neither shows: 15-vm-json.bats checks that
# in each of its guests.

load helpers

@test "nested_virt: the guest sees SVM and /dev/kvm, and runs a VM of its own" {
	make_bundle -- sh -c 'grep -qwE "svm|vmx" /proc/cpuinfo && echo cpu-virt; ls -l /dev/kvm && kvm-smoke'
	cp "$(dirname "$KRUN_TESTPROG")/kvm-smoke" "$BUNDLE/rootfs/bin/kvm-smoke"
	echo '{"nested_virt": 1}' > "$BUNDLE/rootfs/.krun_vm.json"
	run --separate-stderr krun_run
	assert_success
	assert_line cpu-virt
	assert_line --regexp '^crw.* 10, *232 .*/dev/kvm$'
	assert_line "guest wrote 5 to port 0xe9"
	assert_line "guest halted"
}
