/* placeholder_tmp.c - TEMPORARY until the server lands. */
int kvp_server_placeholder_tmp(void);
int kvp_server_placeholder_tmp(void)
{
    return 0;
}
