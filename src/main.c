/* Replaced by the CLI (src/oci) in this session's integration. */
int main(void)
{
	return 1;
}
